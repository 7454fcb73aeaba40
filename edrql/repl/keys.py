"""Key bindings: Enter runs a complete statement and breaks the line in an
incomplete one — the parser decides (it ran out of input → incomplete), not a
regex; Enter on the empty line that follows shows why the statement is not
complete; Alt-Enter / Esc-Enter runs whatever is there. Ctrl-C at the prompt clears
the line and Ctrl-D on an empty line exits (prompt_toolkit's defaults, handled by
the session loop).
"""
from __future__ import annotations

from prompt_toolkit.enums import DEFAULT_BUFFER
from prompt_toolkit.filters import has_focus
from prompt_toolkit.key_binding import KeyBindings

EMPTY, COMPLETE, INCOMPLETE, ERROR = "empty", "complete", "incomplete", "error"


def statement_state(text: str) -> str:
    """empty | complete | incomplete (the parser wants more) | error (it will never parse)."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken
    from ..parse import parser
    if not text.strip():
        return EMPTY
    if text.lstrip().startswith("."):
        return COMPLETE
    try:
        parser().parse(text)
    except UnexpectedEOF:
        return INCOMPLETE
    except UnexpectedToken as e:
        return INCOMPLETE if e.token.type == "$END" else ERROR
    except UnexpectedCharacters:
        return ERROR
    return COMPLETE


def key_bindings() -> KeyBindings:
    kb = KeyBindings()
    focused = has_focus(DEFAULT_BUFFER)

    @kb.add("enter", filter=focused)
    def _enter(event):
        b = event.current_buffer
        if b.complete_state is not None and b.complete_state.current_completion is not None:
            b.complete_state = None          # take the selected completion, keep editing
            return
        if statement_state(b.text) == INCOMPLETE and (
                b.document.current_line.strip() or b.document.line_count == 1):
            b.newline(copy_margin=True)
            return
        # complete, or Enter again on an empty continuation line: check (and run)
        b.validate_and_handle()              # syntax/plan errors: message + cursor moved

    @kb.add("escape", "enter", filter=focused)
    def _force(event):
        event.current_buffer.validate_and_handle()

    return kb
