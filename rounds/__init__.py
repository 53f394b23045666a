"""Rounds at the cell: identity at the point of care (photo, wristband, scan), electronic rounds
and the medication pass (administration record, pill line, exceptions, adherence)."""
