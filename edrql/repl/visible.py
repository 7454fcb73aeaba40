"""The input line shows hidden characters: a query pasted from a ticket or a log
may hold a bidi override (RLO) or a zero-width space that prompt_toolkit would
draw raw (it shows only C0/C1 controls, as ``^[``). This input processor draws
each such character in safetext's visible form (``⟨RLO⟩``) without changing the
buffer, so the query still runs exactly as typed.
"""
from __future__ import annotations

from prompt_toolkit.formatted_text.utils import fragment_list_to_text
from prompt_toolkit.layout.processors import Processor, Transformation, TransformationInput
from prompt_toolkit.layout.utils import explode_text_fragments

from ..safetext import term

STYLE = "class:edrql.hidden"


class ShowHiddenProcessor(Processor):
    def apply_transformation(self, ti: TransformationInput) -> Transformation:
        text = fragment_list_to_text(ti.fragments)
        if term(text) == text:
            return Transformation(ti.fragments)
        out, mapping, pos = [], [], 0
        for style, ch, *rest in explode_text_fragments(ti.fragments):
            mapping.append(pos)
            shown = term(ch) if ch and ch != "\t" else ch
            if shown != ch:
                out.append((f"{style} {STYLE}", shown))
            else:
                out.append((style, ch, *rest))
            pos += len(shown)
        mapping.append(pos)                     # the cursor may sit after the last character
        back = {p: i for i, p in enumerate(mapping)}

        def source_to_display(i: int) -> int:
            return mapping[i] if i < len(mapping) else pos + (i - len(mapping) + 1)

        def display_to_source(d: int) -> int:
            while d > 0 and d not in back:
                d -= 1
            return back.get(d, 0)

        return Transformation(out, source_to_display, display_to_source)
