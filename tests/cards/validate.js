#!/usr/bin/env node
// Checks Adaptive Cards with the real `adaptivecards` package (platforms.md §8), and shows
// how their Markdown renders with markdown-it, which that package's renderer uses.
//
// stdin: a JSON object {name: card}.
// stdout: a JSON object {name: {events: [{phase, event, message}], markdown: [{text, html}]}}.
//   `events` are the parse events and validateProperties() events for Adaptive Cards 1.5
//   (empty: the library found nothing to say). `markdown` has, for every TextBlock text and
//   Fact title and value, the HTML markdown-it makes of it (empty when markdown-it is absent).
// The packages are looked up in RUTRADAR_NODE_MODULES (default: .cache/node/node_modules at
// the repository root, where `make test` installs them).
"use strict";
const path = require("path");

const modules =
  process.env.RUTRADAR_NODE_MODULES ||
  path.join(__dirname, "..", "..", ".cache", "node", "node_modules");
// `require("adaptivecards")` fails in Node (ERR_MODULE_NOT_FOUND); the UMD bundle needs no DOM.
const AC = require(path.join(modules, "adaptivecards", "dist", "adaptivecards.js"));
let markdownit = null;
try {
  markdownit = require(path.join(modules, "markdown-it"))();
} catch (err) {
  markdownit = null;
}

const PHASES = ["Parse", "ToJSON", "Validation"];

function describe(event) {
  return {
    phase: PHASES[event.phase] !== undefined ? PHASES[event.phase] : String(event.phase),
    event:
      AC.ValidationEvent[event.event] !== undefined
        ? AC.ValidationEvent[event.event]
        : String(event.event),
    message: event.message,
  };
}

function markdownTexts(node, out) {
  if (Array.isArray(node)) {
    for (const item of node) markdownTexts(item, out);
  } else if (node && typeof node === "object") {
    if (node.type === "TextBlock" && typeof node.text === "string") out.push(node.text);
    if (node.type === "FactSet" && Array.isArray(node.facts)) {
      for (const fact of node.facts) out.push(String(fact.title), String(fact.value));
    }
    for (const key of Object.keys(node)) markdownTexts(node[key], out);
  }
  return out;
}

function check(json) {
  const card = new AC.AdaptiveCard();
  const context = new AC.SerializationContext(AC.Versions.v1_5);
  card.parse(json, context);
  const events = [];
  for (let i = 0; i < context.eventCount; i++) events.push(describe(context.getEventAt(i)));
  for (const event of card.validateProperties().validationEvents) events.push(describe(event));
  const markdown = markdownit
    ? markdownTexts(json, []).map((text) => ({ text, html: markdownit.render(text) }))
    : [];
  return { events, markdown };
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const cards = JSON.parse(input);
  const out = {};
  for (const name of Object.keys(cards)) out[name] = check(cards[name]);
  process.stdout.write(JSON.stringify(out));
});
