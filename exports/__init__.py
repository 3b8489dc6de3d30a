"""Research datasets: consented, scrubbed exports of battles, votes, reactions and energy."""
