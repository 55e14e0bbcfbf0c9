"""The half-year справка: the roadmap's implementation as a .docx a coordinator edits and signs.

data.py gathers the numbers (the history's snapshots through sync.consolidate, as the master),
chart.py draws the figures, render.py fills the department's .docx template (docxtpl) and writes
the same tables as a workbook, record.py keeps when each справка was made, service.py writes and
mails it before the reporting dates, template.py builds the default template shipped here.
"""
