"""The Teams app package: the manifest template against the v1.17 schema's rules (the parts
it uses), the generated icons, and `rutradar teams package`."""

from __future__ import annotations

import importlib.util
import json
import re
import struct
import zipfile
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bot.chat.engine import COMMANDS
from bot.server.cli import main

ROOT = Path(__file__).resolve().parent.parent
TEAMS = ROOT / "deploy" / "teams"
APP_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
# Top-level properties the v1.17 schema knows (it allows no others), and those it requires.
KNOWN = {
    "$schema",
    "manifestVersion",
    "version",
    "id",
    "packageName",
    "localizationInfo",
    "developer",
    "name",
    "description",
    "icons",
    "accentColor",
    "configurableTabs",
    "staticTabs",
    "bots",
    "connectors",
    "subscriptionOffer",
    "composeExtensions",
    "permissions",
    "devicePermissions",
    "validDomains",
    "webApplicationInfo",
    "graphConnector",
    "showLoadingIndicator",
    "isFullScreen",
    "activities",
    "configurableProperties",
    "supportedChannelTypes",
    "defaultBlockUntilAdminAction",
    "publisherDocsUrl",
    "defaultInstallScope",
    "defaultGroupCapability",
    "meetingExtensionDefinition",
    "authorization",
    "extensions",
    "dashboardCards",
}
REQUIRED = {
    "manifestVersion",
    "version",
    "id",
    "developer",
    "name",
    "description",
    "icons",
    "accentColor",
}
SCOPES = {"team", "personal", "groupChat"}


def template() -> dict[str, Any]:
    return dict(json.loads((TEAMS / "manifest.json").read_text(encoding="utf-8")))


def check_manifest(manifest: dict[str, Any]) -> None:
    """The rules of MicrosoftTeams.schema.json v1.17 for what this manifest uses."""
    assert set(manifest) <= KNOWN and set(manifest) >= REQUIRED
    assert manifest["$schema"] == (
        "https://developer.microsoft.com/en-us/json-schemas/teams/v1.17/MicrosoftTeams.schema.json"
    )
    assert manifest["manifestVersion"] == "1.17"
    developer = manifest["developer"]
    assert set(developer) == {"name", "websiteUrl", "privacyUrl", "termsOfUseUrl"}
    assert len(developer["name"]) <= 32
    for key in ("websiteUrl", "privacyUrl", "termsOfUseUrl"):
        assert developer[key].startswith("https://") and len(developer[key]) <= 2048
    assert set(manifest["name"]) == {"short", "full"}
    assert 0 < len(manifest["name"]["short"]) <= 30 and len(manifest["name"]["full"]) <= 100
    assert set(manifest["description"]) == {"short", "full"}
    assert len(manifest["description"]["short"]) <= 80
    assert len(manifest["description"]["full"]) <= 4000
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", manifest["accentColor"])
    assert set(manifest["permissions"]) <= {"identity", "messageTeamMembers"}
    assert len(manifest["validDomains"]) <= 16
    (bot,) = manifest["bots"]
    assert set(bot) <= {
        "botId",
        "configuration",
        "needsChannelSelector",
        "isNotificationOnly",
        "supportsFiles",
        "supportsCalling",
        "supportsVideo",
        "scopes",
        "commandLists",
    }
    assert set(bot["scopes"]) == SCOPES and len(bot["scopes"]) == 3
    assert bot["supportsFiles"] is False and bot["isNotificationOnly"] is False
    assert 0 < len(bot["commandLists"]) <= 3
    for command_list in bot["commandLists"]:
        assert set(command_list) == {"scopes", "commands"}
        assert set(command_list["scopes"]) <= SCOPES and len(command_list["scopes"]) <= 3
        assert 0 < len(command_list["commands"]) <= 10
        titles = []
        for command in command_list["commands"]:
            assert set(command) == {"title", "description"}
            assert 0 < len(command["title"]) <= 32
            assert 0 < len(command["description"]) <= 128
            titles.append(command["title"])
        assert len(titles) == len(set(titles))
        assert set(titles) <= set(COMMANDS)  # the engine understands every suggestion


def test_template_follows_the_schema_with_placeholders() -> None:
    manifest = template()
    check_manifest(manifest)
    assert manifest["id"] == "{{MICROSOFT_APP_ID}}"
    assert manifest["bots"][0]["botId"] == "{{MICROSOFT_APP_ID}}"
    assert manifest["version"] == "{{VERSION}}"
    personal = next(c for c in manifest["bots"][0]["commandLists"] if c["scopes"] == ["personal"])
    assert sorted(c["title"] for c in personal["commands"]) == sorted(COMMANDS)
    scoped = {s for c in manifest["bots"][0]["commandLists"] for s in c["scopes"]}
    assert scoped == SCOPES


# --- icons ---------------------------------------------------------------------------------


def read_png(data: bytes) -> tuple[int, int, list[list[tuple[int, ...]]]]:
    """Width, height and RGBA rows of an 8-bit RGBA PNG (any of the five filters)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, color, interlace) == (8, 6, 0)
    raw, stride, rows = zlib.decompress(idat), width * 4, []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            left = line[i - 4] if i >= 4 else 0
            up, corner = previous[i], previous[i - 4] if i >= 4 else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                best = min(
                    (abs(p - left), 0, left), (abs(p - up), 1, up), (abs(p - corner), 2, corner)
                )
                line[i] = (line[i] + best[2]) & 0xFF
        rows.append([tuple(line[x : x + 4]) for x in range(0, stride, 4)])
        previous = line
    return width, height, rows


def icons_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("teams_icons", TEAMS / "icons.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_color_icon_is_192_square_and_opaque() -> None:
    width, height, rows = read_png((TEAMS / "color.png").read_bytes())
    assert (width, height) == (192, 192)
    pixels = [p for row in rows for p in row]
    assert all(p[3] == 255 for p in pixels)
    assert (0x1E, 0x3A, 0x8A, 255) in pixels and (255, 255, 255, 255) in pixels


def test_outline_icon_is_32_square_white_on_transparent() -> None:
    width, height, rows = read_png((TEAMS / "outline.png").read_bytes())
    assert (width, height) == (32, 32)
    pixels = [p for row in rows for p in row]
    assert all(p[:3] == (255, 255, 255) or p[3] == 0 for p in pixels)
    assert any(p[3] == 0 for p in pixels) and any(p[3] == 255 for p in pixels)
    corners = [rows[0][0], rows[0][-1], rows[-1][0], rows[-1][-1]]
    assert all(p[3] == 0 for p in corners)


def test_committed_icons_are_what_the_generator_draws() -> None:
    icons = icons_module()
    assert icons.color_icon() == (TEAMS / "color.png").read_bytes()
    assert icons.outline_icon() == (TEAMS / "outline.png").read_bytes()


def test_png_reader_handles_filters() -> None:
    """The reader the icon tests rely on decodes filtered scanlines too (a real encoder's)."""
    rows = [[(10, 20, 30, 255), (40, 50, 60, 128)], [(70, 80, 90, 0), (100, 110, 120, 255)]]
    raw = b""
    previous = bytes(8)
    for kind, row in zip((2, 4), rows, strict=True):
        line = bytes(v for p in row for v in p)
        if kind == 2:
            filtered = bytes((a - b) & 0xFF for a, b in zip(line, previous, strict=True))
        else:  # Paeth against the previous line
            out = []
            for i, value in enumerate(line):
                left = line[i - 4] if i >= 4 else 0
                up, corner = previous[i], previous[i - 4] if i >= 4 else 0
                p = left + up - corner
                best = min(
                    (abs(p - left), 0, left), (abs(p - up), 1, up), (abs(p - corner), 2, corner)
                )
                out.append((value - best[2]) & 0xFF)
            filtered = bytes(out)
        raw += bytes([kind]) + filtered
        previous = line

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 6, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    assert read_png(data) == (2, 2, rows)


# --- rutradar teams package ----------------------------------------------------------------


@pytest.fixture
def no_app_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MICROSOFT_APP_ID", raising=False)


def test_package_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MICROSOFT_APP_ID", APP_ID.upper())
    out = tmp_path / "rutradar-teams.zip"
    assert main(["teams", "package", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    with zipfile.ZipFile(out) as package:
        assert package.testzip() is None
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(package.read("manifest.json"))
        assert package.read("color.png") == (TEAMS / "color.png").read_bytes()
        assert package.read("outline.png") == (TEAMS / "outline.png").read_bytes()
    check_manifest(manifest)
    assert manifest["id"] == APP_ID and manifest["bots"][0]["botId"] == APP_ID
    assert GUID.match(manifest["id"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert "{{" not in json.dumps(manifest)
    # Reproducible: the same inputs give the same bytes.
    again = tmp_path / "again.zip"
    assert main(["teams", "package", "--out", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()


def test_app_id_option_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MICROSOFT_APP_ID", APP_ID)
    other = "11111111-2222-3333-4444-555555555555"
    out = tmp_path / "p.zip"
    assert main(["teams", "package", "--out", str(out), "--app-id", other]) == 0
    with zipfile.ZipFile(out) as package:
        manifest = json.loads(package.read("manifest.json"))
    assert manifest["id"] == other and manifest["bots"][0]["botId"] == other


def test_default_out_is_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["teams", "package", "--app-id", APP_ID]) == 0
    assert zipfile.is_zipfile(tmp_path / "rutradar-teams.zip")


@pytest.mark.usefixtures("no_app_id")
def test_refuses_without_an_app_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p.zip"
    assert main(["teams", "package", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rutradar: MICROSOFT_APP_ID is not set") and err.count("\n") == 1
    assert "Traceback" not in err and not out.exists()


@pytest.mark.usefixtures("no_app_id")
def test_refuses_what_is_not_an_app_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["teams", "package", "--out", str(tmp_path / "p.zip"), "--app-id", "my-bot"]) == 2
    assert "'my-bot' is not a Microsoft app id" in capsys.readouterr().err


def test_unwritable_out_is_a_plain_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "missing" / "p.zip"
    assert main(["teams", "package", "--out", str(out), "--app-id", APP_ID]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"rutradar: could not write {out}") and "Traceback" not in err
