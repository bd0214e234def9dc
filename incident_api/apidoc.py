"""``python -m incident_api.apidoc`` writes docs/api.md from the OpenAPI document, so the API
reference is generated from the same models as the code (``--check`` fails when it is stale)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from incident_api.app import create_app

DEFAULT_OUT = Path("docs/api.md")


def _ref_name(schema: dict[str, Any]) -> str:
    ref = str(schema.get("$ref", ""))
    return ref.rsplit("/", 1)[-1] if ref else str(schema.get("type", "object"))


def render(spec: dict[str, Any]) -> str:
    lines = [
        "# Incident API reference",
        "",
        "Generated from `/openapi.json` by `python -m incident_api.apidoc` — do not edit by "
        "hand. Every error is `application/problem+json` (`type`, `title`, `status`, `detail`, "
        "and `errors: [{field, message, type}]` for field problems). Interactive docs: `/docs`.",
        "",
    ]
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            lines += [f"## `{method.upper()} {path}`", "", op["summary"] + ".", ""]
            if "description" in op:
                lines += [op["description"], ""]
            auth = op.get("security")
            lines += [f"Auth: {next(iter(auth[0])) if auth else 'none'}.", ""]
            params = op.get("parameters", [])
            if params:
                lines += ["| parameter | in | required |", "|---|---|---|"]
                lines += [
                    f"| `{p['name']}` | {p['in']} | {'yes' if p['required'] else 'no'} |"
                    for p in params
                ]
                lines.append("")
            body = op.get("requestBody")
            if body:
                schema = body["content"]["application/json"]["schema"]
                lines += [f"Body: `{_ref_name(schema)}`.", ""]
            lines += ["| status | body |", "|---|---|"]
            for status, response in op["responses"].items():
                content: dict[str, Any] = response.get("content", {})
                kind: dict[str, Any] = (
                    next(iter(content.values())).get("schema", {}) if content else {}
                )
                shown = f"`{_ref_name(kind)}`" if kind else "—"
                lines.append(f"| {status} | {shown} ({response['description']}) |")
            lines.append("")
    lines += ["## Schemas", ""]
    for name, schema in spec["components"]["schemas"].items():
        required = set(schema.get("required", []))
        lines += [f"### `{name}`", ""]
        props = schema.get("properties", {})
        if props:
            lines += ["| field | type | required |", "|---|---|---|"]
            for field, prop in props.items():
                variants = prop.get("anyOf", [prop])
                shown = " | ".join(str(v.get("type") or _ref_name(v)) for v in variants)
                lines.append(f"| `{field}` | {shown} | {'yes' if field in required else 'no'} |")
        elif "enum" in schema:
            lines.append("One of: " + ", ".join(f"`{v}`" for v in schema["enum"]) + ".")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)
    app = create_app(
        {"database_url": "sqlite://", "jwt_secret_key": "apidoc-" + "x" * 40, "environment": "test"}
    )
    spec = app.test_client().get("/openapi.json").get_json()
    text = render(spec)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale: run python -m incident_api.apidoc", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
