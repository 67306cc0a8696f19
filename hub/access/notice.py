"""The privacy notice, written for the person, generated from the purpose register the hub enforces.

One source of truth: what the notice says is shared for a purpose is exactly the purpose's allow-list (each
field with its description from ``schema.graphql``), so the notice cannot drift from what is released.
Rendered as Markdown or HTML (``welfare-hub policy notice``) and served as GraphQL ``privacyNotice``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from graphql import GraphQLInterfaceType, GraphQLObjectType, GraphQLSchema

from hub.access.policy import PurposeSpec, Register

__all__ = ["NoticeField", "PurposeNotice", "field_descriptions", "in_words", "notice", "render"]

_UNITS = (("Y", "year"), ("M", "month"), ("W", "week"), ("D", "day"))

#: Where each purpose's schema contract is served (hub.http.contract_routes), to the organisations it is for.
CONTRACT_PATH = "/graphql/contract"
CONTRACT_LINK = f"{CONTRACT_PATH}?purpose="


def field_descriptions(schema: GraphQLSchema) -> dict[str, str]:
    """Each field coordinate's description in the schema ("" when it has none)."""
    return {
        f"{name}.{fname}": field.description or ""
        for name, gtype in schema.type_map.items()
        if not name.startswith("__") and isinstance(gtype, GraphQLObjectType | GraphQLInterfaceType)
        for fname, field in gtype.fields.items()
    }


def in_words(duration: str) -> str:
    """An ISO 8601 duration of the register (``P2Y``, ``P1Y6M``) in plain English."""
    parts = []
    for unit, word in _UNITS:
        match = re.search(rf"(\d+){unit}", duration)
        if match:
            n = int(match.group(1))
            parts.append(f"{n} {word}{'' if n == 1 else 's'}")
    return " and ".join(parts) or duration


@dataclass(frozen=True)
class NoticeField:
    coordinate: str
    description: str


@dataclass(frozen=True)
class PurposeNotice:
    purpose: str
    title: str
    summary: str
    recipients: tuple[str, ...]
    shared: tuple[NoticeField, ...]
    legal_basis: str
    lawful_basis: str
    special_category_condition: str | None
    retention: str
    consent_required: bool
    consent_renewal: str | None
    notified_on_each_share: bool


def _purpose(spec: PurposeSpec, register: Register, descriptions: Mapping[str, str]) -> PurposeNotice:
    return PurposeNotice(
        purpose=spec.id,
        title=spec.title,
        summary=spec.summary,
        recipients=tuple(sorted(register.org_types[t] for t in spec.org_types)),
        shared=tuple(NoticeField(c, descriptions.get(c, "")) for c in sorted(spec.fields)),
        legal_basis=spec.legal_basis,
        lawful_basis=spec.gdpr_article6,
        special_category_condition=spec.gdpr_article9,
        retention=in_words(spec.retention),
        consent_required=spec.consent_required,
        consent_renewal=in_words(spec.consent_renewal) if spec.consent_renewal else None,
        notified_on_each_share=spec.notify_on_share,
    )


def notice(register: Register, descriptions: Mapping[str, str], purpose: str | None = None) -> list[PurposeNotice]:
    """Every purpose's notice (or one purpose's), in register order."""
    return [
        _purpose(spec, register, descriptions)
        for pid, spec in register.purposes.items()
        if purpose is None or pid == purpose
    ]


def _markdown(register: Register, purposes: Sequence[PurposeNotice]) -> str:
    lines = ["# How your information is shared", ""]
    lines += [register.notice["controller"], ""]
    for p in purposes:
        lines += [f"## {p.title}", "", p.summary, ""]
        lines += [f"**Who receives it:** {'; '.join(p.recipients)}.", ""]
        lines += ["**What is shared:**", ""]
        lines += [f"- {f.description or f.coordinate} (`{f.coordinate}`)" for f in p.shared]
        lines += ["", f"**Why it is allowed:** {p.legal_basis}. UK GDPR Article {p.lawful_basis}."]
        if p.special_category_condition:
            lines[-1] += f" Special category data: Article {p.special_category_condition}."
        lines += ["", f"**How long it is kept:** {p.retention}."]
        lines += ["", f"**Exactly what may be asked:** the schema contract, `{CONTRACT_LINK}{p.purpose}`."]
        if p.consent_required:
            lines += [
                "",
                f"**Your consent:** nothing is shared without it; it lasts {p.consent_renewal} and you can withdraw "
                "it at any time.",
            ]
        if p.notified_on_each_share:
            lines += ["", "**You are told** each time your information is shared for this."]
        lines += [""]
    lines += ["## How to complain", "", register.notice["complaints"], "", register.notice["regulator"], ""]
    return "\n".join(lines)


def _html(register: Register, purposes: Sequence[PurposeNotice]) -> str:
    e = html.escape
    out = ['<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>How your information is shared</title>']
    out += ["</head><body>", "<h1>How your information is shared</h1>", f"<p>{e(register.notice['controller'])}</p>"]
    for p in purposes:
        out += [f'<section id="{e(p.purpose)}">', f"<h2>{e(p.title)}</h2>", f"<p>{e(p.summary)}</p>"]
        out += [f"<p><strong>Who receives it:</strong> {e('; '.join(p.recipients))}.</p>"]
        out += ["<p><strong>What is shared:</strong></p>", "<ul>"]
        out += [f"<li>{e(f.description or f.coordinate)} (<code>{e(f.coordinate)}</code>)</li>" for f in p.shared]
        out += ["</ul>"]
        basis = f"{p.legal_basis}. UK GDPR Article {p.lawful_basis}."
        if p.special_category_condition:
            basis += f" Special category data: Article {p.special_category_condition}."
        out += [f"<p><strong>Why it is allowed:</strong> {e(basis)}</p>"]
        out += [f"<p><strong>How long it is kept:</strong> {e(p.retention)}.</p>"]
        contract = e(f"{CONTRACT_LINK}{p.purpose}")
        link = f'<a href="{contract}">{contract}</a>'
        out += [f"<p><strong>Exactly what may be asked:</strong> the schema contract, {link}.</p>"]
        if p.consent_required:
            lasts = e(p.consent_renewal or "")
            out += [
                f"<p><strong>Your consent:</strong> nothing is shared without it; it lasts {lasts} and you can "
                "withdraw it at any time.</p>"
            ]
        if p.notified_on_each_share:
            out += ["<p><strong>You are told</strong> each time your information is shared for this.</p>"]
        out += ["</section>"]
    out += ["<h2>How to complain</h2>", f"<p>{e(register.notice['complaints'])}</p>"]
    out += [f"<p>{e(register.notice['regulator'])}</p>", "</body></html>", ""]
    return "\n".join(out)


def render(register: Register, descriptions: Mapping[str, str], fmt: str, purpose: str | None = None) -> str:
    purposes = notice(register, descriptions, purpose)
    if fmt == "md":
        return _markdown(register, purposes)
    if fmt == "html":
        return _html(register, purposes)
    raise ValueError(f"unknown notice format {fmt!r} (md or html)")
