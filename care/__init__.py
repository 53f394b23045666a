"""Care inside the walls: intake (receiving) screening and sick call, on their deadlines."""

import care.admissions  # noqa: F401 - arrivals open intakes from any write of a Patient
