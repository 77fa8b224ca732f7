"""``python -m dashboard users add|list|disable|enable|reset-password``.

Passwords come from an interactive prompt (typed twice) or, with
``--password-stdin``, from the first line of standard input; never from argv,
so they stay out of shell history and process listings.
"""
from dashboard.commands import add_db_argument

HELP = "manage accounts: add (first admin too), list, disable, enable, reset-password"


def add_arguments(p):
    add_db_argument(p)
    sub = p.add_subparsers(dest="action", required=True)
    a = sub.add_parser("add", help="create an account")
    a.add_argument("name", help="login name (letters, digits, . _ - @)")
    a.add_argument("--role", required=True, choices=("admin", "leader", "clerk"))
    a.add_argument("--village", action="append", default=[], metavar="NAME",
                   help="village name or 12-digit code a clerk acts for (repeat for several)")
    a.add_argument("--township", action="append", default=[], metavar="NAME",
                   help="township (name or code): a leader's or admin's township (repeat for several; "
                        "none: the whole county); for a clerk, where to look up --village names")
    a.add_argument("--display-name", default=None, help="name shown in the page header")
    a.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    sub.add_parser("list", help="list accounts")
    for name, text in (("disable", "disable an account (ends its sessions)"),
                       ("enable", "enable a disabled account")):
        s = sub.add_parser(name, help=text)
        s.add_argument("name")
    r = sub.add_parser("reset-password", help="set a new password (clears a lockout)")
    r.add_argument("name")
    r.add_argument("--password-stdin", action="store_true", help="read the password from stdin")


def _password(args) -> str:
    import getpass
    import sys
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("passwords differ; nothing changed")
    return first


def _actor() -> str:
    import getpass
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except Exception:
        return "cli"


def run(args) -> int:
    from dashboard import auth, settings
    from dashboard.db import migrate
    from dashboard.errors import UserError
    engine = migrate(args.db)
    actor = _actor()
    lang = settings.get("DASHBOARD_LANG")
    try:
        if args.action == "list":
            with engine.connect() as conn:
                rows = auth.list_users(conn)
            for u in rows:
                state = "disabled" if u["disabled"] else ("locked" if u["locked_until"] else "active")
                place = ", ".join(u["villages"]) if u["role"] == "clerk" else \
                    ("county" if u["townships"] is None else ", ".join(u["townships"]))
                print(f"{u['username']:<20} {u['role']:<7} {state:<8} {place}")
            if not rows:
                print("no accounts; add the first admin with: python -m dashboard users add NAME --role admin")
            return 0
        if args.action == "add":
            with engine.connect() as conn:
                tids = auth.resolve_townships(conn, args.township)
                ids = auth.resolve_villages(conn, args.village, tids or None)
            auth.check_password_rules(pw := _password(args))
            auth.manage(engine, actor, "user_add", auth.create_user, args.name, pw, args.role, ids,
                        display_name=args.display_name,
                        township_ids=tids if args.role != "clerk" else ())
            print(f"added {args.name} ({args.role})")
        elif args.action in ("disable", "enable"):
            auth.manage(engine, actor, f"user_{args.action}", auth.set_disabled, args.name,
                        args.action == "disable")
            print(f"{args.action}d {args.name}")
        elif args.action == "reset-password":
            auth.manage(engine, actor, "user_password", auth.set_password, args.name, _password(args))
            print(f"password reset for {args.name}")
    except UserError as exc:
        print(f"refused: {exc.message(lang)}")
        return 1
    return 0
