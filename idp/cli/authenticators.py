"""The authenticator allow-list from the command line (the console's twin: /admin/authenticators).

``idp authenticators allow AAGUID --description TEXT --root-cert FILE.pem`` adds a model or
allows a known one again; ``remove AAGUID`` takes it off the list; ``list`` prints every known
model as JSON lines; ``import-mds BLOB_FILE --root-cert FIDO_ROOT.pem`` reads a FIDO Metadata
Service BLOB offline (``idp.factors.mds``). Every change is audited. The list matters to users
whose policy says ``--require-attested-passkeys``.
"""

from __future__ import annotations

import json

import click

from idp.cli.support import in_app
from idp.extensions import db
from idp.factors import attestation, mds


@click.group("authenticators", help="Authenticator models (AAGUIDs) allowed for attested passkeys.")
def authenticators_group() -> None:
    pass


@authenticators_group.command(
    "allow", help="Allow a model; a new one needs its description and root certificate(s)."
)
@click.argument("aaguid")
@click.option("--description", help="What the model is called (shown to admins).")
@click.option(
    "--root-cert",
    "root_cert",
    type=click.File("rb"),
    help="PEM file with the root certificate(s) the model's attestation chains to.",
)
@in_app
def allow(aaguid: str, description: str | None, root_cert) -> None:
    roots = attestation.pem_roots(root_cert.read()) if root_cert else None
    row = attestation.allow(aaguid, description=description, roots=roots, actor="cli")
    db.session.commit()
    click.echo(json.dumps(attestation.describe(row)))


@authenticators_group.command("remove", help="Take a model off the allow-list.")
@click.argument("aaguid")
@in_app
def remove(aaguid: str) -> None:
    removed = attestation.remove(aaguid, actor="cli")
    db.session.commit()
    click.echo(json.dumps({"aaguid": attestation.normal_aaguid(aaguid), "removed": removed}))


@authenticators_group.command("list", help="Print every known model as JSON lines.")
@in_app
def list_models() -> None:
    for row in attestation.listed():
        click.echo(json.dumps(attestation.describe(row) | {"added_at": row.added_at}))


@authenticators_group.command(
    "import-mds",
    help="Import the models of a FIDO Metadata Service BLOB file, verified against the FIDO root.",
)
@click.argument("blob_file", type=click.File("r"))
@click.option(
    "--root-cert",
    "root_cert",
    type=click.File("rb"),
    required=True,
    help="PEM file with the FIDO Metadata Service root certificate.",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    help="Import only models with this status report, e.g. FIDO_CERTIFIED_L1 (repeatable).",
)
@click.option(
    "--allow/--no-allow",
    default=True,
    show_default=True,
    help="Whether models new to the list are allowed (known ones keep their state).",
)
@in_app
def import_mds(blob_file, root_cert, statuses: tuple[str, ...], allow: bool) -> None:
    blob = mds.read(blob_file.read(), root_cert.read())
    counts = mds.import_blob(blob, statuses=frozenset(statuses), allow=allow, actor="cli")
    db.session.commit()
    click.echo(json.dumps({"blob_no": blob.number, **counts}))
