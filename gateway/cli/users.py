"""``gateway users add|reset|disable``: manage the console's people in the users file.

The users file is the one beside the deployment's clients file (``--config``), or the one named by
``--file``. ``add`` and ``reset`` print the new password and TOTP seed once: the seed can be typed into
an authenticator app, or scanned from the QR code the console shows at the first sign-in.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyotp

from gateway.adapters.console_users import (
    TOTP_ISSUER,
    UserFile,
    UserRecord,
    add_user,
    disable_user,
    reset_user,
    users_file_beside,
)


def users_file(args: argparse.Namespace) -> Path:
    """The users file the arguments name."""
    if args.file:
        return Path(args.file)
    from gateway.settings import load_settings

    return users_file_beside(load_settings(Path(args.config)).clients_file)


def _show(record: UserRecord, password: str, path: Path) -> None:
    uri = pyotp.TOTP(record.totp_secret).provisioning_uri(name=record.username, issuer_name=TOTP_ISSUER)
    print(f"user {record.username} ({record.role}, {record.department}) written to {path}")
    print(f"  password:  {password}")
    print(f"  TOTP seed: {record.totp_secret}")
    print(f"  otpauth:   {uri}")
    print("  (shown once; the console asks for a first code at sign-in to confirm the seed)")


def cmd_users(args: argparse.Namespace) -> int:
    """Run one of add, reset, disable."""
    path = users_file(args)
    users = UserFile.load(path)
    if args.users_cmd == "add":
        record, password = add_user(
            users, args.username, department=args.department, role=args.role, display_name=args.display_name
        )
        users.save(path)
        _show(record, password, path)
    elif args.users_cmd == "reset":
        record, password = reset_user(users, args.username)
        users.save(path)
        _show(record, password, path)
    else:
        disable_user(users, args.username)
        users.save(path)
        print(f"user {args.username} disabled; their sessions end at their next request")
    return 0


def add_users_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``gateway users`` on the main parser."""
    users = sub.add_parser("users", help="console users (people, not OAuth clients)").add_subparsers(
        dest="users_cmd", required=True
    )
    for name, help_text in (
        ("add", "add a user; prints their password and TOTP seed once"),
        ("reset", "new password and TOTP seed for a user (they enrol again)"),
        ("disable", "disable a user; their sessions stop working"),
    ):
        cmd = users.add_parser(name, help=help_text)
        cmd.add_argument("username")
        where = cmd.add_mutually_exclusive_group(required=True)
        where.add_argument("--config", help="settings file: the users file is beside its clients file")
        where.add_argument("--file", help="the users file itself")
        if name == "add":
            cmd.add_argument(
                "--role", required=True, help="a role of the users file (auditor, security, source)"
            )
            cmd.add_argument("--department", required=True)
            cmd.add_argument("--display-name")
        cmd.set_defaults(func=cmd_users)
