"""What happens over time: renewals, expiry notices (plan, mail, sending), housekeeping and the
worker's health. Imports casework, pki, people and the ground floor."""
