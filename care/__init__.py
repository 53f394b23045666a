"""Care inside the walls: intake (receiving) screening and sick call, on their deadlines."""

# Loading the package registers the hook by which arrivals open intakes from any write of a Patient.
from care.admissions import open_intakes

__all__ = ["open_intakes"]
