"""Everything that touches the database: schema, migrations, queries, group commit."""
