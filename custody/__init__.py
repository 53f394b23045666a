"""The custody side of care: the custody officer's tasks (calling a detainee to the clinic,
escorts, witnessing), outside-hospital referrals and escorts, and the monthly figures."""
