"""Email reports: summary mails per report, priority and period, per-event mails and RT tickets."""
