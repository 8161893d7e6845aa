"""Partner attendance templates (sources.md §2): generate them, read them back, and tell
partners exactly what to fix.

Pure library functions (no DuckDB, no Dagster): they take plain Python values, so the
warehouse, the CLI and the synthetic-sample generator all call the same code.

Generating
    :func:`plan_sessions` plans weekly sessions inside a term's half-terms (never in
    half-term or holiday weeks) from the programme's settings
    (:func:`programme_settings`, ``config/partner_programmes.yaml``). :func:`write_template`
    writes a real ``.xlsx`` for a :class:`TemplateSpec`: sheets Instructions, About,
    Attendance, Engagement, Outcomes, Feedback and a *very hidden* ``_wlz_template``
    sheet recording the sessions and children sent (so the reader can tell what was added
    by hand). Dropdown/number validation on every input cell, headings and pre-filled
    cells locked (sheet protection without a password: it prevents accidents, and a
    partner can still unprotect to add a session), workbook structure locked (sheets
    cannot be renamed or deleted by accident), frozen panes, fixed column widths. The
    same spec always gives a byte-identical file (timestamps are fixed).

Formula injection (quality.md)
    Every text cell the writer produces is stored as a *text* cell, never a formula:
    text starting with ``=``, ``+``, ``-``, ``@``, tab or CR additionally gets Excel's
    quote-prefix style, so it stays text even when the partner edits the cell. The text
    itself is unchanged (a child called ``=HYPERLINK(...)`` reads back as exactly that).
    For CSV exports, :func:`neutralise_cell` prefixes such text with an apostrophe (the
    OWASP recommendation; visible and strippable with :func:`unneutralise_cell`, unlike
    a tab prefix, which silently changes the value).

Reading (:func:`read_template`, :func:`validate_file`)
    python-calamine reads every cell value (fast; since 0.9 it also reports merged
    ranges and keeps text and date cells apart, so openpyxl is not needed for reading).
    Before that the file is checked defensively: size on disk, that it is a zip holding
    ``xl/workbook.xml``, the total unpacked size and per-part compression ratio (zip
    bombs), the number of sheets, and each sheet's used rows, columns and cells
    (``config/partner_template.yaml: limits``). A file that fails these, is not an
    ``.xlsx``, is damaged, lacks the About or Attendance sheet (even under an alias or
    at its position), or whose About sheet does not name partner, programme, academic
    year and term, is quarantined whole: ``TemplateRead.quarantine_reason`` says what a
    person can do about it, and no rows are returned.

    Everything else is read cell by cell; each problem is a :class:`Finding` (sheet,
    cell, value typed, what is wrong, what to do) and everything readable is still read.
    Headings are found by their labels (aliases in the config), not by position, so
    title rows, inserted rows and columns, and moved tables still read.

Severity
    ``error``: something the partner typed that we need was *not read* (they must fix
    it and may re-send). ``warning``: the file was read, but something is worth checking
    or was ignored without losing anything. ``wlz validate`` exits 1 on errors only.

Decisions
    * **WLZ ID not allocated** to the programme and term (``allocated``): an *error*,
      and the row is *not ingested* (quarantined as a finding). A wrong ID would credit
      support hours, and through them engagement payments, to another child; the
      allocation register is the source of truth, and the file is kept, so once the
      backbone adds the allocation the next run reads the row with no re-send. The
      same rule covers a child added by hand: a valid, allocated ID is read (warning
      "added by hand" when the hidden sheet shows it was not sent); a valid but
      unallocated ID is an error; a malformed ID is an error. When the row has nothing
      typed in it (no data lost) these are warnings instead.
    * **WLZ ID not in** ``known_children``: error, not ingested (same reasoning).
      **Misspelt name with a known ID**: warning; the row is ingested under the WLZ ID
      (names compare ignoring case, accents, punctuation and spacing).
    * **Marks**: read case-insensitively with surrounding spaces ignored, *silently*:
      Excel's own dropdown accepts ``p`` as well, so a warning would be noise. A blank
      mark cell is ingested with ``mark=None`` (not recorded; rules.md §9 does not count
      it). Anything else in a mark cell (a note such as "was ill", a number) is an
      error and that cell is not ingested (the child's other sessions are).
    * **Dates typed as text** in a heading are read day first (``3/10/17``,
      ``03-Oct-2017``, ``03/10/2017``; formats in the config) with a warning quoting the
      date understood, because day/month order is ambiguous to a reader.
    * **Session added by hand** (a date column not on the template sent): ingested
      with a warning; its planned minutes are taken from its own cell, and an empty
      cell is a warning with ``planned_minutes=None`` (the reader does not guess the
      programme's default). A session date outside ``term_dates`` or repeated is an
      error and that column is not ingested.
    * **Missing optional sheets** (Engagement, Feedback): no finding. Missing Outcomes:
      an error finding (no scores read), the rest is ingested. **Renamed sheets**:
      matched by alias, or by position when the content looks right: a warning.
    * **Notes** outside the table (a column right of the sessions, text above the
      headings, a text row under the list) are ignored with a warning. Empty rows and
      columns *inside* the table are warnings; trailing ones are silent.
    * **Merged cells** are a warning; only their first cell has a value, so a session
      date merged across two columns leaves the second without a date (an error if it
      holds marks).

Personal data in findings
    ``Finding.value`` quotes what the partner typed (their own file, it helps them find
    it) and may be a child's name or a note about a child. ``problem`` and ``expected``
    never contain typed values, names or WLZ IDs, so ``Finding.message(show_value=False)``
    and ``Finding.as_record(redact=True)`` are safe for logs and Dagster metadata; the
    ``value_is_personal`` flag marks findings that quote a value. Show values only to
    the partner (``format_findings(..., show_values=True)``, e.g. ``wlz validate``).

Cell references
    Rows carry ``sheet`` (the sheet's name as found in the file) and ``cell`` as
    ``"Attendance!D5"``; findings carry ``sheet`` and ``cell`` as ``"D5"`` with
    ``Finding.ref`` giving ``"Attendance!D5"``.

Filling in and hand edits (:func:`fill_template`, :func:`hand_edit`)
    What the synthetic-sample generator uses to produce returned files: fill in marks,
    ratings, scores and feedback as a partner would, then apply any of the defects in
    :data:`HAND_EDIT_DEFECTS` (issue 3, point 3).
"""

from __future__ import annotations

from wlz_pipeline.sources.partner_template_common import (
    FEEDBACK_ITEMS,
    META_SHEET,
    SHEET_KEYS,
    Child,
    Finding,
    HandEdit,
    Measure,
    ProgrammeSettings,
    Session,
    TemplateSettings,
    TemplateSpec,
    format_findings,
    is_wlz_id,
    neutralise_cell,
    parse_text_date,
    programme_settings,
    template_settings,
    unneutralise_cell,
)
from wlz_pipeline.sources.partner_template_read import (
    FeedbackRow,
    MarkRow,
    OutcomeRow,
    TemplateRead,
    read_about,
    read_template,
    validate_file,
)
from wlz_pipeline.sources.partner_template_write import (
    HAND_EDIT_DEFECTS,
    fill_template,
    hand_edit,
    plan_sessions,
    save_workbook,
    template_filename,
    write_template,
)

__all__ = [
    "FEEDBACK_ITEMS",
    "HAND_EDIT_DEFECTS",
    "META_SHEET",
    "SHEET_KEYS",
    "Child",
    "FeedbackRow",
    "Finding",
    "HandEdit",
    "MarkRow",
    "Measure",
    "OutcomeRow",
    "ProgrammeSettings",
    "Session",
    "TemplateRead",
    "TemplateSettings",
    "TemplateSpec",
    "fill_template",
    "format_findings",
    "hand_edit",
    "is_wlz_id",
    "neutralise_cell",
    "parse_text_date",
    "plan_sessions",
    "programme_settings",
    "read_about",
    "read_template",
    "save_workbook",
    "template_filename",
    "template_settings",
    "unneutralise_cell",
    "validate_file",
    "write_template",
]
