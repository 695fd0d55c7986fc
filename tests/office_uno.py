"""Run inside a desktop session by the system Python (which has LibreOffice's ``uno``), as the session's user:
changes LibreOffice's state the ways an episode can, or reads that state back. Prints JSON.

    python3 office_uno.py PIPE change DOC OTHER   change everything (`change`: DOC, OTHER and a new document open)
    python3 office_uno.py PIPE select DOC CELL    select CELL of DOC and give DOC's window the focus
    python3 office_uno.py PIPE inspect DOC        what LibreOffice holds now
    python3 office_uno.py - autocorrect WORD TEXT add an AutoCorrect entry to the profile, as LibreOffice's dialog does

PIPE is the name of a UNO pipe the running LibreOffice accepts on (``soffice --accept=pipe,name=PIPE;urp;``);
DOC and OTHER are file URLs; the documents are spreadsheets.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import zipfile
from pathlib import Path
from xml.sax.saxutils import quoteattr

import uno
from com.sun.star.beans import PropertyValue

TOOLBAR = "private:resource/toolbar/standardbar"
TOOLBAR_STATES = "/org.openoffice.Office.UI.CalcWindowState/UIElements/States"
SETTING = ("/org.openoffice.Office.Common/Save/Document", "CreateBackup")
PICKLIST = "/org.openoffice.Office.Histories/Histories/org.openoffice.Office.Histories:HistoryInfo['PickList']/ItemList"
USER_AUTOCORRECT = Path.home() / ".config/libreoffice/4/user/autocorr/acor_en-US.dat"
SHARED_AUTOCORRECT = Path("/usr/lib/libreoffice/share/autocorr/acor_en-US.dat")
TYPED_CELL = "A5"


def prop(name: str, value: object) -> PropertyValue:
    item = PropertyValue()
    item.Name, item.Value = name, value
    return item


def connect(pipe: str) -> object:
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    deadline = time.monotonic() + 30
    while True:
        try:
            return resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
        except Exception:  # NoConnectException until the acceptor is up
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def config(ctx: object, path: str, update: bool = False) -> object:
    provider = ctx.ServiceManager.createInstanceWithContext("com.sun.star.configuration.ConfigurationProvider", ctx)
    service = ("com.sun.star.configuration.ConfigurationUpdateAccess" if update
               else "com.sun.star.configuration.ConfigurationAccess")
    return provider.createInstanceWithArguments(service, (prop("nodepath", path),))


def documents(desktop: object) -> list[object]:
    found, items = [], desktop.getComponents().createEnumeration()
    while items.hasMoreElements():
        found.append(items.nextElement())
    return found


def by_url(desktop: object, url: str) -> object:
    return next(doc for doc in documents(desktop) if doc.getURL() == url)


def focus(doc: object, cell: str) -> None:
    controller = doc.getCurrentController()
    controller.getFrame().activate()
    controller.getFrame().getContainerWindow().setFocus()
    controller.select(doc.getSheets().getByIndex(0).getCellRangeByName(cell))


def inspect(ctx: object, desktop: object, doc_url: str) -> dict[str, object]:
    doc = by_url(desktop, doc_url)
    states = config(ctx, TOOLBAR_STATES)
    sheet = doc.getSheets().getByIndex(0)
    return {
        "setting": config(ctx, SETTING[0]).getByName(SETTING[1]),
        "recent": list(config(ctx, PICKLIST).getElementNames()),
        "toolbar_shown": bool(doc.getCurrentController().getFrame().LayoutManager.isElementVisible(TOOLBAR)),
        "toolbar_stored": states.getByName(TOOLBAR).getByName("Visible") if states.hasByName(TOOLBAR) else None,
        "documents": sorted([d.getURL() or d.getTitle(), bool(d.isModified())] for d in documents(desktop)),
        "a1": sheet.getCellRangeByName("A1").getString(),
        "typed": sheet.getCellRangeByName(TYPED_CELL).getString(),
    }


def change(ctx: object, desktop: object, doc_url: str, other_url: str) -> None:
    """A setting, a recent document (OTHER, closed), a hidden toolbar, a modified document (DOC) and a new one
    never saved (the untitled document), the clipboard; the configuration is written to the profile now, as
    LibreOffice does at exit. The documents were opened the way a user does (windows made through UNO from outside
    can hang LibreOffice's main loop)."""
    settings = config(ctx, SETTING[0], update=True)
    settings.replaceByName(SETTING[1], not settings.getByName(SETTING[1]))
    settings.commitChanges()
    by_url(desktop, other_url).close(True)  # now a recent document
    doc = by_url(desktop, doc_url)
    doc.getCurrentController().getFrame().LayoutManager.hideElement(TOOLBAR)
    doc.getSheets().getByIndex(0).getCellRangeByName("A1").setString("LEAK")  # modified, never saved
    draft = next(d for d in documents(desktop) if not d.getURL())
    draft.getSheets().getByIndex(0).getCellRangeByName("A1").setString("draft")
    focus(doc, "A3")
    dispatcher = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.DispatchHelper", ctx)
    dispatcher.executeDispatch(doc.getCurrentController().getFrame(), ".uno:Copy", "", 0, ())  # A3: "Linus"
    ctx.getValueByName("/singletons/com.sun.star.configuration.theDefaultProvider").flush()


def add_autocorrect(word: str, text: str) -> None:
    """Add ``word`` -> ``text`` to the profile's English AutoCorrect list (a copy of LibreOffice's own list first,
    as its dialog makes); LibreOffice reads the file again when it changed."""
    USER_AUTOCORRECT.parent.mkdir(parents=True, exist_ok=True)
    if not USER_AUTOCORRECT.exists():
        shutil.copyfile(SHARED_AUTOCORRECT, USER_AUTOCORRECT)
    with zipfile.ZipFile(USER_AUTOCORRECT) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    entry = f"<block-list:block block-list:abbreviated-name={quoteattr(word)} block-list:name={quoteattr(text)}/>"
    members["DocumentList.xml"] = members["DocumentList.xml"].replace(b"</block-list:block-list>",
                                                                      entry.encode() + b"</block-list:block-list>")
    part = USER_AUTOCORRECT.with_suffix(".part")
    with zipfile.ZipFile(part, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data, zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED)
    os.replace(part, USER_AUTOCORRECT)


def main() -> None:
    pipe, command, *args = sys.argv[1:]
    if command == "autocorrect":
        add_autocorrect(*args)
        return
    ctx = connect(pipe)
    desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
    if command == "change":
        change(ctx, desktop, *args)
    elif command == "select":
        focus(by_url(desktop, args[0]), args[1])
    print(json.dumps(inspect(ctx, desktop, args[0])))


if __name__ == "__main__":
    main()
