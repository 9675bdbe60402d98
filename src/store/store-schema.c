/* SQLite schema, one entry per version (see store-schema.h).

   Design notes for version 1:
   - messages is the narrow, hot table (one row per message per mailbox,
     tombstones included): what FETCH FLAGS, STORE, EXPUNGE, COPY and
     CONDSTORE touch. Everything parsed once at delivery lives in
     message_data, one row per (account, content hash), shared by every
     copy of the same content; message_fts (rowid = message_data.id) holds
     the searchable text once per content. Its owner column holds one
     token, "a<account id>": a query ANDs it with the words, so FTS5
     intersects doclists inside one account instead of matching the words
     in every account and filtering afterwards.
   - Mailbox and account counters are columns updated in the transactions
     that change messages, so STATUS and QUOTA never count rows.
   - UIDs never repeat within a mailbox: tombstones keep theirs, and a
     deleted mailbox's messages are detached (mailbox_id NULL) so a new
     mailbox of the same name starts afresh under a new UIDVALIDITY.
   - store_counters.uidvalidity keeps UIDVALIDITY strictly increasing
     across the database even when the clock goes back. */

#include "store/store-schema.h"

#include "lib/util.h"

const char store_schema_sqlite_bootstrap[] =
	"CREATE TABLE IF NOT EXISTS schema_migrations (\n"
	"  version INTEGER PRIMARY KEY,\n"
	"  name TEXT NOT NULL,\n"
	"  applied_at INTEGER NOT NULL\n"
	");\n";

static const char v1_initial[] =
	"CREATE TABLE store_counters (\n"
	"  name TEXT PRIMARY KEY,\n"
	"  value INTEGER NOT NULL\n"
	") WITHOUT ROWID;\n"
	"INSERT INTO store_counters (name, value) VALUES ('uidvalidity', 0);\n"
	"\n"
	"CREATE TABLE accounts (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  deleted_at INTEGER,\n"
	"  message_count INTEGER NOT NULL DEFAULT 0 CHECK (message_count >= 0),\n"
	"  total_bytes INTEGER NOT NULL DEFAULT 0 CHECK (total_bytes >= 0)\n"
	");\n"
	"\n"
	"CREATE TABLE credentials (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
	"  address TEXT NOT NULL UNIQUE,\n"
	"  password_hash TEXT NOT NULL,\n"
	"  is_primary INTEGER NOT NULL DEFAULT 0,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  updated_at INTEGER NOT NULL\n"
	");\n"
	"CREATE INDEX credentials_account ON credentials(account_id);\n"
	"CREATE UNIQUE INDEX credentials_one_primary ON credentials(account_id)\n"
	"  WHERE is_primary = 1;\n"
	"\n"
	"CREATE TABLE mailboxes (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
	"  name TEXT NOT NULL,\n"
	"  uidvalidity INTEGER NOT NULL,\n"
	"  uidnext INTEGER NOT NULL DEFAULT 1,\n"
	"  highest_modseq INTEGER NOT NULL DEFAULT 1,\n"
	"  special_use INTEGER NOT NULL DEFAULT 0,\n"
	"  is_noselect INTEGER NOT NULL DEFAULT 0,\n"
	"  message_count INTEGER NOT NULL DEFAULT 0 CHECK (message_count >= 0),\n"
	"  unseen_count INTEGER NOT NULL DEFAULT 0 CHECK (unseen_count >= 0),\n"
	"  deleted_count INTEGER NOT NULL DEFAULT 0 CHECK (deleted_count >= 0),\n"
	"  total_bytes INTEGER NOT NULL DEFAULT 0 CHECK (total_bytes >= 0),\n"
	"  created_at INTEGER NOT NULL,\n"
	"  UNIQUE (account_id, name)\n"
	");\n"
	"\n"
	"CREATE TABLE mailbox_keywords (\n"
	"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,\n"
	"  keyword TEXT NOT NULL COLLATE NOCASE,\n"
	"  PRIMARY KEY (mailbox_id, keyword)\n"
	") WITHOUT ROWID;\n"
	"\n"
	"CREATE TABLE subscriptions (\n"
	"  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
	"  name TEXT NOT NULL,\n"
	"  PRIMARY KEY (account_id, name)\n"
	") WITHOUT ROWID;\n"
	"\n"
	"CREATE TABLE message_data (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
	"  content_hash TEXT NOT NULL,\n"
	"  blob_key_id INTEGER NOT NULL DEFAULT 0,\n"
	"  envelope TEXT NOT NULL DEFAULT '',\n"
	"  bodystructure TEXT NOT NULL DEFAULT '',\n"
	"  subject TEXT NOT NULL DEFAULT '',\n"
	"  base_subject TEXT NOT NULL DEFAULT '',\n"
	"  from_text TEXT NOT NULL DEFAULT '',\n"
	"  to_text TEXT NOT NULL DEFAULT '',\n"
	"  cc_text TEXT NOT NULL DEFAULT '',\n"
	"  bcc_text TEXT NOT NULL DEFAULT '',\n"
	"  sort_from TEXT NOT NULL DEFAULT '',\n"
	"  sort_to TEXT NOT NULL DEFAULT '',\n"
	"  sort_cc TEXT NOT NULL DEFAULT '',\n"
	"  display_from TEXT NOT NULL DEFAULT '',\n"
	"  display_to TEXT NOT NULL DEFAULT '',\n"
	"  message_id TEXT NOT NULL DEFAULT '',\n"
	"  in_reply_to TEXT NOT NULL DEFAULT '',\n"
	"  refs TEXT NOT NULL DEFAULT '',\n"
	"  preview TEXT NOT NULL DEFAULT '',\n"
	"  sent_date INTEGER NOT NULL DEFAULT 0,\n"
	"  UNIQUE (account_id, content_hash)\n"
	");\n"
	"CREATE INDEX message_data_hash ON message_data(content_hash);\n"
	"\n"
	"CREATE TABLE messages (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
	"  mailbox_id INTEGER REFERENCES mailboxes(id) ON DELETE SET NULL,\n"
	"  data_id INTEGER NOT NULL REFERENCES message_data(id),\n"
	"  uid INTEGER NOT NULL,\n"
	"  modseq INTEGER NOT NULL,\n"
	"  expunged_modseq INTEGER,\n"
	"  expunged_at INTEGER,\n"
	"  flags INTEGER NOT NULL DEFAULT 0,\n"
	"  keywords TEXT NOT NULL DEFAULT '',\n"
	"  internal_date INTEGER NOT NULL,\n"
	"  save_date INTEGER NOT NULL,\n"
	"  size INTEGER NOT NULL\n"
	");\n"
	"CREATE UNIQUE INDEX messages_uid ON messages(mailbox_id, uid);\n"
	"CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);\n"
	"CREATE INDEX messages_expunged ON messages(mailbox_id, expunged_modseq)\n"
	"  WHERE expunged_modseq IS NOT NULL;\n"
	"CREATE INDEX messages_unseen ON messages(mailbox_id, uid)\n"
	"  WHERE (flags & 1) = 0 AND expunged_modseq IS NULL;\n"
	"CREATE INDEX messages_data ON messages(data_id);\n"
	"CREATE INDEX messages_cleanup ON messages(account_id, expunged_at)\n"
	"  WHERE expunged_at IS NOT NULL;\n"
	"\n"
	"CREATE VIRTUAL TABLE message_fts USING fts5(owner, headers, body,\n"
	"  tokenize = 'unicode61 remove_diacritics 2');\n"
	"\n"
	"CREATE TABLE sieve_scripts (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
	"  name TEXT NOT NULL,\n"
	"  content TEXT NOT NULL,\n"
	"  is_active INTEGER NOT NULL DEFAULT 0,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  updated_at INTEGER NOT NULL,\n"
	"  UNIQUE (account_id, name)\n"
	");\n"
	"CREATE UNIQUE INDEX sieve_scripts_one_active ON sieve_scripts(account_id)\n"
	"  WHERE is_active = 1;\n"
	"\n"
	"CREATE TABLE auth_attempts (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  ip TEXT NOT NULL,\n"
	"  username TEXT,\n"
	"  success INTEGER NOT NULL,\n"
	"  at INTEGER NOT NULL\n"
	");\n"
	"CREATE INDEX auth_attempts_ip ON auth_attempts(ip, at);\n"
	"CREATE INDEX auth_attempts_user ON auth_attempts(username, at)\n"
	"  WHERE username IS NOT NULL;\n"
	"CREATE INDEX auth_attempts_at ON auth_attempts(at);\n"
	"\n"
	"CREATE TABLE auth_blocks (\n"
	"  kind INTEGER NOT NULL,\n"
	"  key TEXT NOT NULL,\n"
	"  until INTEGER NOT NULL,\n"
	"  PRIMARY KEY (kind, key)\n"
	") WITHOUT ROWID;\n"
	"CREATE INDEX auth_blocks_until ON auth_blocks(until);\n";

/* Version 2: the MIME part offsets of each content (FETCH reads only the
   bytes of a section; NULL for mail stored before: parsed at FETCH), and
   per-account QUOTA limits (NULL = the server default). */
static const char v2_parts_quota[] =
	"ALTER TABLE message_data ADD COLUMN parts BLOB;\n"
	"ALTER TABLE accounts ADD COLUMN quota_storage INTEGER\n"
	"  CHECK (quota_storage IS NULL OR quota_storage > 0);\n"
	"ALTER TABLE accounts ADD COLUMN quota_messages INTEGER\n"
	"  CHECK (quota_messages IS NULL OR quota_messages > 0);\n";

const struct store_migration store_schema_sqlite[] = {
	{ 1, "initial", v1_initial },
	{ 2, "parts_quota", v2_parts_quota },
};
const size_t store_schema_sqlite_count = ARRAY_SIZE(store_schema_sqlite);

static_assert(ARRAY_SIZE(store_schema_sqlite) == STORE_SCHEMA_VERSION,
	      "store_schema_sqlite out of sync with STORE_SCHEMA_VERSION");
