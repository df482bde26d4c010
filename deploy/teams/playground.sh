#!/bin/sh
# Rut Radar's Teams adapter in Microsoft 365 Agents Playground, offline (docs/teams.md,
# "Try it locally with Microsoft 365 Agents Playground"). A manual look, never part of
# `make test`.
#
# - installs the Playground (npm @microsoft/m365agentsplayground, pinned) into
#   .cache/agentsplayground, once;
# - runs `rutradar serve` with RUTRADAR_DEV=1 on 127.0.0.1 (no Microsoft credentials) against
#   a throwaway SQLite database in a temporary folder, deleted on exit;
# - runs the Playground in the foreground; Ctrl+C stops both.
#
# Ports (both below 32768, the kernel's ephemeral range starts above): RUTRADAR_PORT for the
# bot (default 3978), PLAYGROUND_PORT for the Playground (default 3979). The Playground opens
# your browser unless TEAMSAPPTESTER_BROWSER=none.
set -eu

cd "$(dirname "$0")/../.."
VERSION=0.2.28
PREFIX=.cache/agentsplayground
BIN=$PREFIX/node_modules/.bin/agentsplayground
STAMP=$PREFIX/.installed-$VERSION
BOT_PORT=${RUTRADAR_PORT:-3978}
PLAYGROUND_PORT=${PLAYGROUND_PORT:-3979}
RUTRADAR=.venv/bin/rutradar

if [ ! -x "$RUTRADAR" ]; then
    echo "Run 'make install' first (or use 'make teams-playground')." >&2
    exit 2
fi
if [ ! -f "$STAMP" ]; then
    command -v npm >/dev/null 2>&1 || { echo "npm is needed to install the Playground." >&2; exit 2; }
    npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error \
        "@microsoft/m365agentsplayground@$VERSION"
    touch "$STAMP"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rutradar-teams-playground.XXXXXX")
BOT_PID=
cleanup() {
    if [ -n "$BOT_PID" ]; then
        kill "$BOT_PID" 2>/dev/null || true
        wait "$BOT_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export RUTRADAR_DATABASE_URL="sqlite+aiosqlite:///$WORK/teams.db"
"$RUTRADAR" db upgrade >/dev/null
RUTRADAR_DEV=1 RUTRADAR_HOST=127.0.0.1 RUTRADAR_PORT=$BOT_PORT RUTRADAR_PLAYGROUND=0 \
    MICROSOFT_APP_ID= MICROSOFT_APP_PASSWORD= \
    "$RUTRADAR" serve >"$WORK/rutradar.log" 2>&1 &
BOT_PID=$!

tries=0
until curl -fsS "http://127.0.0.1:$BOT_PORT/healthz" >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -gt 50 ] || ! kill -0 "$BOT_PID" 2>/dev/null; then
        echo "rutradar serve did not start:" >&2
        cat "$WORK/rutradar.log" >&2
        exit 1
    fi
    sleep 0.2
done

cat <<EOF
Rut Radar (Teams adapter, RUTRADAR_DEV=1) is on http://127.0.0.1:$BOT_PORT/api/messages
  database: $RUTRADAR_DATABASE_URL (deleted on exit), server log: $WORK/rutradar.log
Microsoft 365 Agents Playground: http://127.0.0.1:$PLAYGROUND_PORT/ (it listens on every
  interface of this machine and its mock connector checks no credentials: use it on a
  machine or network you trust)
To make the Playground's user (Alex Wilber) an admin, in another shell:
  RUTRADAR_DATABASE_URL='$RUTRADAR_DATABASE_URL' $RUTRADAR admin add \\
      00000000-0000-0000-0000-0000000000020 --workspace 00000000-0000-0000-0000-0000000000001
Ctrl+C stops both.
EOF

# The Playground writes its log under ./devTools unless told otherwise: keep it in .cache.
M365_AGENTS_PLAYGROUND_LOGFILE="$PWD/$PREFIX/m365agentsplayground.log" \
    "$BIN" -e "http://127.0.0.1:$BOT_PORT/api/messages" -c msteams --disable-telemetry \
    -p "$PLAYGROUND_PORT"
