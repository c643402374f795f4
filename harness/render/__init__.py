"""What a record is shown as: the terminal summary, the HTML report, JUnit XML, GitHub annotations."""
