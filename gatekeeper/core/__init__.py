"""Pure decisions and plain data, no I/O: what a pull request is, what the policy says,
who is an agent, whether review is satisfied, the verdict, and how text is made inert."""
