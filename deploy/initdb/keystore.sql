-- The keystore lives in a database of its own, so that database backups never hold it.
CREATE DATABASE chat_keys OWNER chat;
