"""Teams and what belongs to them: topics, opening hours, consent texts, canned replies,
members, rosters and team keys."""
