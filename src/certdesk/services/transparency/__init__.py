"""Certificate Transparency monitoring (issue 15, part 3; R18): the logs certdesk follows,
reading them, and the findings they yield."""
