"""The battle app: catalogue, visitors, battles, turns, answers, votes, reveal, pages."""
