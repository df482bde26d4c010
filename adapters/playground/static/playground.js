// The playground page: picks a person, sends events, shows replies, polls the inbox.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  // `generation` changes with the person: replies and inbox reads that were in flight for the
  // previous person are dropped instead of landing in (and advancing) the new one's transcript.
  const state = { people: [], me: null, generation: 0, after: 0, seen: new Map(), timer: null };

  const QUICK = {
    member: [["Check in", "/rut checkin"], ["Advice", "/rut advice"], ["Privacy", "/rut privacy"], ["Help", "/rut help"]],
    manager: [["Team summary", "/rut summary"]],
    admin: [["Admin panel", "/rut admin"]],
  };

  async function post(payload) {
    const generation = state.generation;
    const body = { workspace: state.me.workspace, user_id: state.me.user_id, event_id: crypto.randomUUID(), ...payload };
    let res, data;
    try {
      res = await fetch("/playground/api/events", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      data = await res.json().catch(() => ({}));
    } catch (e) {
      if (generation === state.generation) bubble("bot error", "<p>The playground server did not answer. Is <code>rutradar serve</code> still running?</p>");
      return;
    }
    if (generation !== state.generation) return;
    if (!res.ok) { bubble("bot error", `<p>${escapeHtml(data.error || `${res.status} ${res.statusText}`)}</p>`); return; }
    for (const m of data.messages || []) show(m);
  }

  function escapeHtml(s) { const d = document.createElement("div"); d.textContent = s; return d.innerHTML; }

  function bubble(cls, html, from) {
    const empty = $("empty");
    if (empty) empty.remove();
    const div = document.createElement("div");
    div.className = `bubble ${cls}`;
    div.innerHTML = (from ? `<div class="from">${escapeHtml(from)}</div>` : "") + html;
    $("transcript").appendChild(div);
    $("transcript").scrollTop = $("transcript").scrollHeight;
    return div;
  }

  function show(message) {
    if (message.surface === "dialog") {
      $("dialog-body").innerHTML = message.html;
      if (!$("dialog").open) $("dialog").showModal();
      return;
    }
    const isError = (message.tags || []).includes("error");
    bubble(isError ? "bot error" : "bot", message.html, "Rut Radar");
  }

  async function poll() {
    if (!state.me) return;
    const generation = state.generation;
    const q = new URLSearchParams({ workspace: state.me.workspace, user: state.me.user_id, after: String(state.after) });
    try {
      const res = await fetch(`/playground/api/inbox?${q}`);
      const data = await res.json();
      if (generation !== state.generation || !res.ok) return;
      for (const m of data.messages) {
        state.after = Math.max(state.after, m.rev);
        const existing = state.seen.get(m.id);
        if (existing) { existing.innerHTML = `<div class="from">Rut Radar</div>${m.html}`; continue; }
        state.seen.set(m.id, bubble("bot", m.html, "Rut Radar"));
      }
    } catch (e) { /* server restarting: try again on the next tick */ }
  }

  // What arrives in this person's chat, and when: said while the chat is still empty.
  function emptyLine(me) {
    const homes = me.teams.filter((t) => t.role === "member").map((t) => t.team);
    const managed = me.teams.filter((t) => t.role === "manager").map((t) => t.team);
    const lines = [];
    if (homes.length) lines.push(`Check-in prompts from ${homes.join(", ")}'s schedule arrive here, one per round.`);
    if (managed.length) lines.push(`The results of ${managed.join(", ")} arrive here when a round closes with enough answers.`);
    if (!lines.length && me.roles.includes("admin")) lines.push("You're in no team, so no check-in prompts arrive here. Open the admin panel to run teams and rounds.");
    if (!lines.length) lines.push("Nothing arrives here until an admin adds you to a team; a private check-in works meanwhile.");
    const p = document.createElement("p");
    p.id = "empty"; p.className = "empty"; p.textContent = lines.join(" ");
    return p;
  }

  const KEPT = "rutradar.playground.person";
  const keyOf = (p) => `${p.workspace}/${p.user_id}`;

  function choose(index) {
    state.me = state.people[index];
    state.generation += 1;
    state.after = 0; state.seen = new Map();
    $("transcript").innerHTML = "";
    $("transcript").appendChild(emptyLine(state.me));
    $("person").value = String(index);
    // A reload keeps the person: in the address (shareable) and in this browser.
    history.replaceState(null, "", `#${encodeURIComponent(keyOf(state.me))}`);
    try { localStorage.setItem(KEPT, keyOf(state.me)); } catch (e) { /* storage off: the hash still works */ }
    if ($("dialog").open) $("dialog").close();
    const teams = state.me.teams.map((t) => `${t.role} of ${t.team}`).join(", ") || "not in a team";
    $("who").textContent = `${state.me.user_id} · ${teams}${state.me.roles.includes("admin") ? " · admin" : ""}`;
    const quick = $("quick"); quick.innerHTML = "";
    // An admin in no team has no team check-in: no member buttons as if they were one.
    const noTeamAdmin = state.me.roles.includes("admin") && !state.me.teams.length;
    const roles = new Set(["member", ...state.me.roles]);
    for (const role of ["member", "manager", "admin"]) {
      if (!roles.has(role)) continue;
      for (const [label, command] of QUICK[role]) {
        if (noTeamAdmin && command === "/rut checkin") continue;
        const b = document.createElement("button"); b.type = "button"; b.textContent = label;
        b.dataset.command = command; quick.appendChild(b);
      }
    }
    poll();
  }

  async function send(command) {
    bubble("me", escapeHtml(command));
    await post({ kind: "command", text: command });
  }

  document.addEventListener("click", async (e) => {
    const quick = e.target.closest("button[data-command]");
    if (quick) { await send(quick.dataset.command); return; }
    const action = e.target.closest("button.rr-action");
    if (action) {
      e.preventDefault();
      if ($("dialog").contains(action) && action.dataset.action !== "advice_send") $("dialog").close();
      const carried = action.closest(".rr-message");
      await post({ kind: "action", action_id: action.dataset.action, value: action.dataset.value || "",
                   private: (carried && carried.dataset.private) || "" });
    }
  });

  document.addEventListener("submit", async (e) => {
    const form = e.target.closest("form.rr-form");
    if (!form) return;
    e.preventDefault();
    if (form.dataset.sending) return;  // a double click sends once
    const values = {};
    for (const [k, v] of new FormData(form).entries()) values[k] = String(v);
    const buttons = form.querySelectorAll("button[type=submit], button:not([type])");
    form.dataset.sending = "1";
    buttons.forEach((b) => { b.disabled = true; });
    try {
      await post({ kind: "form", form_id: form.dataset.formId, private: form.dataset.private || "", values });
    } finally {
      delete form.dataset.sending;
      buttons.forEach((b) => { b.disabled = false; });
    }
  });

  $("composer").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("command").value.trim();
    if (!text) return;
    $("command").value = "";
    await send(text);
  });
  $("dialog-close").addEventListener("click", () => $("dialog").close());
  $("person").addEventListener("change", (e) => choose(Number(e.target.value)));

  // The person from the address, else the one last chosen in this browser, else the first.
  function kept() {
    let wanted = decodeURIComponent(location.hash.slice(1));
    if (!wanted) { try { wanted = localStorage.getItem(KEPT) || ""; } catch (e) { wanted = ""; } }
    return state.people.findIndex((p) => keyOf(p) === wanted);
  }

  async function start() {
    const res = await fetch("/playground/api/people");
    state.people = (await res.json()).people;
    const select = $("person");
    state.people.forEach((p, i) => {
      const o = document.createElement("option");
      const role = p.roles.includes("admin") ? "admin" : p.roles.includes("manager") ? "manager" : "member";
      o.value = String(i); o.textContent = `${p.name} (${role})`; o.dataset.userId = p.user_id;
      select.appendChild(o);
    });
    if (state.people.length) choose(Math.max(0, kept()));
    state.timer = setInterval(poll, 1500);
  }
  start();
})();
