"""`easeml-gui install-desktop`: the app in the user's desktop menu."""

from __future__ import annotations

import argparse

from ..lab import desktop


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("install-desktop", help="add the app's launcher and icon to your desktop menu (XDG paths)",
                       description="Writes easeml-gui.desktop into $XDG_DATA_HOME/applications and the icon into "
                       "$XDG_DATA_HOME/icons/hicolor/scalable/apps ($XDG_DATA_HOME defaults to ~/.local/share).")
    p.set_defaults(handler=run_install_desktop)


def run_install_desktop(args: argparse.Namespace) -> int:
    installed = desktop.install()
    print(f"installed the launcher {installed.launcher} and the icon {installed.icon}; the app appears in your "
          "desktop's menu as easeml-gui (log out and in if it does not show yet)")
    return 0
