/* Tests of mime/mime.h.

   Ground truth: the expected FETCH strings in vectors[] (RFC822.SIZE,
   BODYSTRUCTURE, BODY, ENVELOPE) were generated once from the same bytes
   with Dovecot 2.3.19.1's imap binary in PREAUTH mode over stdin
   (docs: shared/spec/dependencies.md §6, run with runuser -u nobody), and
   the section byte ranges were checked against Dovecot's BODY.PEEK[...]
   output for every section. They are embedded so that the tests do not
   need Dovecot. Every vector is also parsed in two pieces at every split
   point and byte by byte (STYLE §11): the result must not change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/arena.h"
#include "lib/str.h"
#include "mime/mime.h"

struct vector {
	const char *name;
	bool crlf;           /* msg is written with \n: turn it into \r\n */
	const char *msg;
	size_t len;           /* of msg when it holds NUL bytes, else 0 */
	const char *fetch;    /* Dovecot: (RFC822.SIZE n BODYSTRUCTURE .. BODY .. ENVELOPE ..) */
	const char *sections; /* "section start end vsize" lines, "-" = BODY[] */
};

/* NUL bytes in headers: Dovecot ends atoms at a NUL and replaces it by
   U+FFFD in quoted strings and unstructured values */
#define HEADER_QUIRKS_MSG \
	"From: \"na\x00me\" <a@b>, c@d\x00""e.f\n" \
	"To: trailing@dot., x@y, \"a\\\n" \
	" b\" <q@r>\n" \
	"Cc: <a@b.>, g@h\n" \
	"Message-ID:    \n" \
	"In-Reply-To:\n" \
	" <x@y>\n" \
	"Date: D\x00""ate\n" \
	"Subject: s\x00t \t  end\n" \
	"MIME-Version: 1.0\n" \
	"Content-Type: multipart/mixed; boundary=b\x00""c\n" \
	"\n" \
	"--b\n" \
	"Content-Type: text/plain; name=\"x\x00y\"; z=w\x00v; c=d\n" \
	"Content-Description: d\x00""e\n" \
	"Content-Language: e\x00n, de\n" \
	"Content-Disposition: attach\x00ment; filename=\"f\x00g\"\n" \
	"\n" \
	"body\x00with nul\n" \
	"--b\n" \
	"Content-Type: message/rfc822 (unterminated\n" \
	"\n" \
	"x\n" \
	"--b\n" \
	"Content-Type: text/html\n" \
	"\n" \
	"--b\n" \
	"Content-Type: multipart/related; boundary=inner\n" \
	"\n" \
	"--b--\n"

/* Generated from Dovecot 2.3.19.1: see the comment above. */
static const struct vector vectors[] = {
	{
		.name = "appendix_b",
		.crlf = true,
		.msg =
			"From: Alice <alice@example.com>\n"
			"To: bob@example.com\n"
			"Subject: =?UTF-8?B?SGVsbG8gV8O2cmxk?=\n"
			"Date: Mon, 23 Nov 2026 10:00:00 +0000\n"
			"Message-ID: <1@example.com>\n"
			"MIME-Version: 1.0\n"
			"Content-Type: multipart/mixed; boundary=\"outer\"\n"
			"\n"
			"This is the preamble.\n"
			"--outer\n"
			"Content-Type: multipart/alternative; boundary=\"alt\"\n"
			"\n"
			"--alt\n"
			"Content-Type: text/plain; charset=utf-8\n"
			"Content-Transfer-Encoding: quoted-printable\n"
			"\n"
			"Hello W=C3=B6rld\n"
			"second line\n"
			"\n"
			"--alt\n"
			"Content-Type: text/html; charset=iso-8859-1\n"
			"\n"
			"<p>Hello W\xf6rld</p>\n"
			"--alt--\n"
			"\n"
			"--outer\n"
			"Content-Type: message/rfc822\n"
			"\n"
			"From: Carol <carol@example.com>\n"
			"Subject: inner\n"
			"Content-Type: multipart/mixed; boundary=\"inner\"\n"
			"\n"
			"--inner\n"
			"Content-Type: text/plain\n"
			"\n"
			"inner body\n"
			"--inner\n"
			"Content-Type: application/octet-stream; name=\"a.bin\"\n"
			"Content-Disposition: attachment; filename=\"a.bin\"\n"
			"Content-Transfer-Encoding: base64\n"
			"\n"
			"AAECAwQFBgcICQ==\n"
			"--inner--\n"
			"\n"
			"--outer\n"
			"Content-Type: text/plain\n"
			"\n"
			"no-trailing-newline part\n"
			"--outer--\n"
			"epilogue\n",
		.fetch =
			"(RFC822.SIZE 987 BODYSTRUCTURE (((\"text\" \"plain\" (\"charset\" \"utf"
			"-8\") NIL NIL \"quoted-printable\" 31 2 NIL NIL NIL NIL)(\"text\" \"htm"
			"l\" (\"charset\" \"iso-8859-1\") NIL NIL \"7bit\" 18 0 NIL NIL NIL NIL)"
			" \"alternative\" (\"boundary\" \"alt\") NIL NIL NIL)(\"message\" \"rfc8"
			"22\" NIL NIL NIL \"7bit\" 329 (NIL \"inner\" ((\"Carol\" NIL \"carol\" "
			"\"example.com\")) ((\"Carol\" NIL \"carol\" \"example.com\")) ((\"Carol"
			"\" NIL \"carol\" \"example.com\")) NIL NIL NIL NIL NIL) ((\"text\" \"pl"
			"ain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0 NIL NIL NIL NIL)"
			"(\"application\" \"octet-stream\" (\"name\" \"a.bin\") NIL NIL \"base64"
			"\" 16 NIL (\"attachment\" (\"filename\" \"a.bin\")) NIL NIL) \"mixed\" "
			"(\"boundary\" \"inner\") NIL NIL NIL) 15 NIL NIL NIL NIL)(\"text\" \"pl"
			"ain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 24 0 NIL NIL NIL NIL)"
			" \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL) BODY (((\"text\" \"pla"
			"in\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 31 2)(\"text\""
			" \"html\" (\"charset\" \"iso-8859-1\") NIL NIL \"7bit\" 18 0) \"alterna"
			"tive\")(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 329 (NIL \"inner\" "
			"((\"Carol\" NIL \"carol\" \"example.com\")) ((\"Carol\" NIL \"carol\" \""
			"example.com\")) ((\"Carol\" NIL \"carol\" \"example.com\")) NIL NIL NIL"
			" NIL NIL) ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bi"
			"t\" 10 0)(\"application\" \"octet-stream\" (\"name\" \"a.bin\") NIL NIL"
			" \"base64\" 16) \"mixed\") 15)(\"text\" \"plain\" (\"charset\" \"us-asc"
			"ii\") NIL NIL \"7bit\" 24 0) \"mixed\") ENVELOPE (\"Mon, 23 Nov 2026 10"
			":00:00 +0000\" \"=?UTF-8?B?SGVsbG8gV8O2cmxk?=\" ((\"Alice\" NIL \"alice"
			"\" \"example.com\")) ((\"Alice\" NIL \"alice\" \"example.com\")) ((\"Al"
			"ice\" NIL \"alice\" \"example.com\")) ((NIL NIL \"bob\" \"example.com\""
			")) NIL NIL NIL \"<1@example.com>\"))",
		.sections =
			"HEADER 0 231 231\n"
			"TEXT 231 987 756\n"
			"- 0 987 987\n"
			"1 318 529 211\n"
			"1.MIME 263 318 55\n"
			"1.1 413 444 31\n"
			"1.1.MIME 325 413 88\n"
			"1.2 500 518 18\n"
			"1.2.MIME 453 500 47\n"
			"2 572 901 329\n"
			"2.MIME 540 572 32\n"
			"2.HEADER 572 672 100\n"
			"2.TEXT 672 901 229\n"
			"2.1 709 719 10\n"
			"2.1.MIME 681 709 28\n"
			"2.2 872 888 16\n"
			"2.2.MIME 730 872 142\n"
			"3 940 964 24\n"
			"3.MIME 912 940 28\n",
	},
	{
		.name = "plain",
		.crlf = true,
		.msg =
			"Return-Path: <alice@example.com>\n"
			"From: Alice Example <alice@example.com>\n"
			"To: Bob <bob@example.org>\n"
			"Subject: Lunch tomorrow?\n"
			"Date: Tue, 1 Jul 2003 10:52:37 +0200\n"
			"Message-ID: <20030701105237.1234@example.com>\n"
			"MIME-Version: 1.0\n"
			"Content-Type: text/plain; charset=utf-8; format=flowed\n"
			"Content-Transfer-Encoding: 8bit\n"
			"\n"
			"Hi Bob,\n"
			"\n"
			"shall we meet at noon?\n"
			"\n"
			"Alice\n",
		.fetch =
			"(RFC822.SIZE 367 BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"utf-8"
			"\" \"format\" \"flowed\") NIL NIL \"8bit\" 44 5 NIL NIL NIL NIL) BODY ("
			"\"text\" \"plain\" (\"charset\" \"utf-8\" \"format\" \"flowed\") NIL NI"
			"L \"8bit\" 44 5) ENVELOPE (\"Tue, 1 Jul 2003 10:52:37 +0200\" \"Lunch t"
			"omorrow?\" ((\"Alice Example\" NIL \"alice\" \"example.com\")) ((\"Alic"
			"e Example\" NIL \"alice\" \"example.com\")) ((\"Alice Example\" NIL \"a"
			"lice\" \"example.com\")) ((\"Bob\" NIL \"bob\" \"example.org\")) NIL NI"
			"L NIL \"<20030701105237.1234@example.com>\"))",
		.sections =
			"HEADER 0 323 323\n"
			"TEXT 323 367 44\n"
			"- 0 367 367\n"
			"1 323 367 44\n"
			"1.MIME 0 323 323\n",
	},
	{
		.name = "alternative",
		.crlf = true,
		.msg =
			"From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.de>\n"
			"To: list@example.org\n"
			"Subject: =?UTF-8?Q?Re:_[list]_Caf=C3=A9?= (fwd)\n"
			"Date: 5 Mar 24 18:00 EST\n"
			"Message-ID: <alt.1@example.de>\n"
			"In-Reply-To: <orig.1@example.org>\n"
			"References: <root.1@example.org>\n"
			" <orig.1@example.org>\n"
			"MIME-Version: 1.0\n"
			"Content-Type: multipart/alternative;\n"
			" boundary=\"----=_NextPart_000_0001\"\n"
			"\n"
			"This is a multi-part message in MIME format.\n"
			"\n"
			"------=_NextPart_000_0001\n"
			"Content-Type: text/plain; charset=\"iso-8859-1\"\n"
			"Content-Transfer-Encoding: quoted-printable\n"
			"\n"
			"Gr=FC=DFe aus K=F6ln, ein l=E4ngerer Satz mit einem weichen =\n"
			"Zeilenumbruch.\n"
			"\n"
			"------=_NextPart_000_0001\n"
			"Content-Type: text/html; charset=\"iso-8859-1\"\n"
			"Content-Transfer-Encoding: quoted-printable\n"
			"\n"
			"<html><body><p>Gr=FC=DFe aus <b>K=F6ln</b> &amp; Umgebung</p></body></h"
			"tml>\n"
			"\n"
			"------=_NextPart_000_0001--\n",
		.fetch =
			"(RFC822.SIZE 856 BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"iso-"
			"8859-1\") NIL NIL \"quoted-printable\" 79 2 NIL NIL NIL NIL)(\"text\" \""
			"html\" (\"charset\" \"iso-8859-1\") NIL NIL \"quoted-printable\" 77 1 N"
			"IL NIL NIL NIL) \"alternative\" (\"boundary\" \"----=_NextPart_000_0001"
			"\") NIL NIL NIL) BODY ((\"text\" \"plain\" (\"charset\" \"iso-8859-1\")"
			" NIL NIL \"quoted-printable\" 79 2)(\"text\" \"html\" (\"charset\" \"is"
			"o-8859-1\") NIL NIL \"quoted-printable\" 77 1) \"alternative\") ENVELOP"
			"E (\"5 Mar 24 18:00 EST\" \"=?UTF-8?Q?Re:_[list]_Caf=C3=A9?= (fwd)\" (("
			"\"=?ISO-8859-1?Q?J=F6rg_M=FCller?=\" NIL \"joerg\" \"example.de\")) ((\""
			"=?ISO-8859-1?Q?J=F6rg_M=FCller?=\" NIL \"joerg\" \"example.de\")) ((\"="
			"?ISO-8859-1?Q?J=F6rg_M=FCller?=\" NIL \"joerg\" \"example.de\")) ((NIL "
			"NIL \"list\" \"example.org\")) NIL NIL \"<orig.1@example.org>\" \"<alt."
			"1@example.de>\"))",
		.sections =
			"HEADER 0 376 376\n"
			"TEXT 376 856 480\n"
			"- 0 856 856\n"
			"1 546 625 79\n"
			"1.MIME 451 546 95\n"
			"2 748 825 77\n"
			"2.MIME 654 748 94\n",
	},
	{
		.name = "attachments",
		.crlf = true,
		.msg =
			"From: sender@example.com\n"
			"To: rcpt@example.com\n"
			"Subject: files\n"
			"MIME-Version: 1.0\n"
			"Content-Type: multipart/mixed; boundary=XYZ\n"
			"\n"
			"--XYZ\n"
			"Content-Type: text/plain\n"
			"\n"
			"see attached\n"
			"--XYZ\n"
			"Content-Type: application/pdf; name*=utf-8''%E2%82%AC%20rates.pdf\n"
			"Content-Disposition: attachment;\n"
			" filename*0*=utf-8''%E2%82%AC%20;\n"
			" filename*1*=rates.pdf; size=6\n"
			"Content-Transfer-Encoding: base64\n"
			"Content-ID: <pdf1@example.com>\n"
			"Content-Description: Rates\n"
			"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
			"Content-Language: en, de-CH\n"
			"Content-Location: http://example.com/rates.pdf\n"
			"\n"
			"JVBERi0xLjQK\n"
			"--XYZ\n"
			"Content-Type: image/png; name=\"long name with spaces.png\"\n"
			"Content-Disposition: inline; filename*0=\"long name \"; filename*1=\"wi"
			"th spaces.png\"\n"
			"Content-Transfer-Encoding: base64\n"
			"\n"
			"iVBORw0KGgo=\n"
			"--XYZ\n"
			"Content-Type: text/plain; name*0=\"a\"; name*2=\"c\"\n"
			"Content-Disposition: attachment; filename=\"=?utf-8?q?d=C3=A9j=C3=A0?=."
			"txt\"\n"
			"\n"
			"missing section\n"
			"--XYZ--\n",
		.fetch =
			"(RFC822.SIZE 943 BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-a"
			"scii\") NIL NIL \"7bit\" 12 0 NIL NIL NIL NIL)(\"application\" \"pdf\" "
			"(\"name*\" \"utf-8''%E2%82%AC%20rates.pdf\") \"<pdf1@example.com>\" \"R"
			"ates\" \"base64\" 12 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"attachment\" (\"si"
			"ze\" \"6\" \"filename*\" \"utf-8''%E2%82%AC%20rates.pdf\")) (\"en\" \"d"
			"e-CH\") \"http://example.com/rates.pdf\")(\"image\" \"png\" (\"name\" \""
			"long name with spaces.png\") NIL NIL \"base64\" 12 NIL (\"inline\" (\"f"
			"ilename\" \"long name with spaces.png\")) NIL NIL)(\"text\" \"plain\" ("
			"\"name*0\" \"a\" \"name*2\" \"c\" \"charset\" \"us-ascii\") NIL NIL \"7"
			"bit\" 15 0 NIL (\"attachment\" (\"filename\" \"=?utf-8?q?d=C3=A9j=C3=A0"
			"?=.txt\")) NIL NIL) \"mixed\" (\"boundary\" \"XYZ\") NIL NIL NIL) BODY "
			"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 0)("
			"\"application\" \"pdf\" (\"name*\" \"utf-8''%E2%82%AC%20rates.pdf\") \""
			"<pdf1@example.com>\" \"Rates\" \"base64\" 12)(\"image\" \"png\" (\"name"
			"\" \"long name with spaces.png\") NIL NIL \"base64\" 12)(\"text\" \"pla"
			"in\" (\"name*0\" \"a\" \"name*2\" \"c\" \"charset\" \"us-ascii\") NIL N"
			"IL \"7bit\" 15 0) \"mixed\") ENVELOPE (NIL \"files\" ((NIL NIL \"sender"
			"\" \"example.com\")) ((NIL NIL \"sender\" \"example.com\")) ((NIL NIL \""
			"sender\" \"example.com\")) ((NIL NIL \"rcpt\" \"example.com\")) NIL NIL"
			" NIL NIL))",
		.sections =
			"HEADER 0 130 130\n"
			"TEXT 130 943 813\n"
			"- 0 943 943\n"
			"1 165 177 12\n"
			"1.MIME 137 165 28\n"
			"2 567 579 12\n"
			"2.MIME 186 567 381\n"
			"3 768 780 12\n"
			"3.MIME 588 768 180\n"
			"4 917 932 15\n"
			"4.MIME 789 917 128\n",
	},
	{
		.name = "rfc822",
		.crlf = true,
		.msg =
			"From: fwd@example.com\n"
			"To: you@example.com\n"
			"Subject: Fwd: report\n"
			"MIME-Version: 1.0\n"
			"Content-Type: multipart/mixed; boundary=outer\n"
			"\n"
			"--outer\n"
			"Content-Type: text/plain\n"
			"\n"
			"See below.\n"
			"--outer\n"
			"Content-Type: message/rfc822\n"
			"Content-Disposition: inline\n"
			"\n"
			"From: Orig Sender <orig@example.net>\n"
			"To: fwd@example.com\n"
			"Cc: \"Team, All\" <team@example.net>\n"
			"Subject: report\n"
			"Date: Wed, 31 Dec 2025 23:59:60 +0100\n"
			"Message-ID: <report.7@example.net>\n"
			"MIME-Version: 1.0\n"
			"Content-Type: multipart/mixed; boundary=inner\n"
			"\n"
			"--inner\n"
			"Content-Type: text/plain; charset=us-ascii\n"
			"\n"
			"numbers inside\n"
			"--inner\n"
			"Content-Type: message/rfc822\n"
			"\n"
			"Subject: deepest\n"
			"\n"
			"deep body\n"
			"--inner--\n"
			"--outer\n"
			"Content-Type: multipart/digest; boundary=dig\n"
			"\n"
			"--dig\n"
			"\n"
			"Subject: digest member\n"
			"From: d@example.com\n"
			"\n"
			"member body\n"
			"--dig--\n"
			"--outer--\n",
		.fetch =
			"(RFC822.SIZE 808 BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-a"
			"scii\") NIL NIL \"7bit\" 10 0 NIL NIL NIL NIL)(\"message\" \"rfc822\" N"
			"IL NIL NIL \"7bit\" 409 (\"Wed, 31 Dec 2025 23:59:60 +0100\" \"report\""
			" ((\"Orig Sender\" NIL \"orig\" \"example.net\")) ((\"Orig Sender\" NIL"
			" \"orig\" \"example.net\")) ((\"Orig Sender\" NIL \"orig\" \"example.ne"
			"t\")) ((NIL NIL \"fwd\" \"example.com\")) ((\"Team, All\" NIL \"team\" "
			"\"example.net\")) NIL NIL \"<report.7@example.net>\") ((\"text\" \"plai"
			"n\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 0 NIL NIL NIL NIL)(\""
			"message\" \"rfc822\" NIL NIL NIL \"7bit\" 29 (NIL \"deepest\" NIL NIL N"
			"IL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") "
			"NIL NIL \"7bit\" 9 0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL) \"mixed\" (\"b"
			"oundary\" \"inner\") NIL NIL NIL) 20 NIL (\"inline\" NIL) NIL NIL)((\"m"
			"essage\" \"rfc822\" NIL NIL NIL \"7bit\" 58 (NIL \"digest member\" ((NI"
			"L NIL \"d\" \"example.com\")) ((NIL NIL \"d\" \"example.com\")) ((NIL N"
			"IL \"d\" \"example.com\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\""
			"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 0 NIL NIL NIL NIL) 3 NIL NI"
			"L NIL NIL) \"digest\" (\"boundary\" \"dig\") NIL NIL NIL) \"mixed\" (\""
			"boundary\" \"outer\") NIL NIL NIL) BODY ((\"text\" \"plain\" (\"charset"
			"\" \"us-ascii\") NIL NIL \"7bit\" 10 0)(\"message\" \"rfc822\" NIL NIL "
			"NIL \"7bit\" 409 (\"Wed, 31 Dec 2025 23:59:60 +0100\" \"report\" ((\"Or"
			"ig Sender\" NIL \"orig\" \"example.net\")) ((\"Orig Sender\" NIL \"orig"
			"\" \"example.net\")) ((\"Orig Sender\" NIL \"orig\" \"example.net\")) ("
			"(NIL NIL \"fwd\" \"example.com\")) ((\"Team, All\" NIL \"team\" \"examp"
			"le.net\")) NIL NIL \"<report.7@example.net>\") ((\"text\" \"plain\" (\""
			"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 0)(\"message\" \"rfc822\" N"
			"IL NIL NIL \"7bit\" 29 (NIL \"deepest\" NIL NIL NIL NIL NIL NIL NIL NIL"
			") (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 9 0) "
			"2) \"mixed\") 20)((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 58 (NIL "
			"\"digest member\" ((NIL NIL \"d\" \"example.com\")) ((NIL NIL \"d\" \"e"
			"xample.com\")) ((NIL NIL \"d\" \"example.com\")) NIL NIL NIL NIL NIL) ("
			"\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 0) 3)"
			" \"digest\") \"mixed\") ENVELOPE (NIL \"Fwd: report\" ((NIL NIL \"fwd\""
			" \"example.com\")) ((NIL NIL \"fwd\" \"example.com\")) ((NIL NIL \"fwd\""
			" \"example.com\")) ((NIL NIL \"you\" \"example.com\")) NIL NIL NIL NIL)"
			")",
		.sections =
			"HEADER 0 134 134\n"
			"TEXT 134 808 674\n"
			"- 0 808 808\n"
			"1 171 181 10\n"
			"1.MIME 143 171 28\n"
			"2 253 662 409\n"
			"2.MIME 192 253 61\n"
			"2.HEADER 253 508 255\n"
			"2.TEXT 508 662 154\n"
			"2.1 563 577 14\n"
			"2.1.MIME 517 563 46\n"
			"2.2 620 649 29\n"
			"2.2.MIME 588 620 32\n"
			"2.2.HEADER 620 640 20\n"
			"2.2.TEXT 640 649 9\n"
			"2.2.1 640 649 9\n"
			"2.2.1.MIME 620 640 20\n"
			"3 719 797 78\n"
			"3.MIME 671 719 48\n"
			"3.1 728 786 58\n"
			"3.1.MIME 726 728 2\n"
			"3.1.HEADER 728 775 47\n"
			"3.1.TEXT 775 786 11\n"
			"3.1.1 775 786 11\n"
			"3.1.1.MIME 728 775 47\n",
	},
	{
		.name = "groups",
		.crlf = true,
		.msg =
			"From: \"Joe Q. Public\" <john.q.public@example.com>\n"
			"Sender: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\n"
			"Reply-To: <@route1,@route2:jdoe@machine.example>\n"
			"To: Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>\n"
			"Cc: <boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.ne"
			"t>\n"
			"Bcc: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, "
			"Undisclosed recipients:;\n"
			"Date: Thu,\n"
			"      13\n"
			"        Feb\n"
			"          1969\n"
			"      23:32\n"
			"               -0330 (Newfoundland Time)\n"
			"Message-ID:              <testabcd.1234@silly.test>\n"
			"In-Reply-To: <a@b> <c@d>\n"
			"Subject: folded\n"
			"  subject\ttab  two  spaces \n"
			"\n"
			"body\n",
		.fetch =
			"(RFC822.SIZE 644 BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-as"
			"cii\") NIL NIL \"7bit\" 6 1 NIL NIL NIL NIL) BODY (\"text\" \"plain\" ("
			"\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1) ENVELOPE (\"Thu,      1"
			"3        Feb          1969      23:32               -0330 (Newfoundland"
			" Time)\" {29}\r\n"
			"folded subject tab two spaces ((\"Joe Q. Public\" NIL \"john.q.public\""
			" \"example.com\")) ((\"Pete\" NIL \"pete\" \"silly.test\")) ((NIL \"@ro"
			"ute1,@route2\" \"jdoe\" \"machine.example\")) ((\"Mary Smith\" NIL \"ma"
			"ry\" \"x.test\")(NIL NIL \"jdoe\" \"example.org\")(\"Who?\" NIL \"one\""
			" \"y.test\")) ((NIL NIL \"boss\" \"nil.test\")({16}\r\n"
			"Giant; \"Big\" Box NIL \"sysservices\" \"example.net\")) ((NIL NIL \"A "
			"Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")(NIL NIL \"joe\" \"where"
			".test\")(\"John\" NIL \"jdoe\" \"one.test\")(NIL NIL NIL NIL)(NIL NIL \""
			"Undisclosed recipients\" NIL)(NIL NIL NIL NIL)) \"<a@b> <c@d>\" \"<test"
			"abcd.1234@silly.test>\"))",
		.sections =
			"HEADER 0 638 638\n"
			"TEXT 638 644 6\n"
			"- 0 644 644\n"
			"1 638 644 6\n"
			"1.MIME 0 638 638\n",
	},
	{
		.name = "broken_addr",
		.crlf = true,
		.msg =
			"From: foo\n"
			"To: @bar, a.b . c@d . e, \"unclosed <x@y>\n"
			"Cc: name <a@b, ,, <>, x@y (Real Name)\n"
			"Bcc: \"a\\\"b\" <c@d>, =?utf-8?q?J=C3=B6rg?= <j@x>, Mr. Smith <s@x>\n"
			"\n"
			"b",
		.fetch =
			"(RFC822.SIZE 160 BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-as"
			"cii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL) BODY (\"text\" \"plain\" ("
			"\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0) ENVELOPE (NIL NIL ((NIL"
			" NIL \"foo\" \"MISSING_DOMAIN\")) ((NIL NIL \"foo\" \"MISSING_DOMAIN\")"
			") ((NIL NIL \"foo\" \"MISSING_DOMAIN\")) ((NIL NIL \"MISSING_MAILBOX\" "
			"\"bar\")({6}\r\n"
			"a.b. c NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")) ((\"name\" NIL \"a\""
			" \"SYNTAX_ERROR\")(NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")(NIL "
			"NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")(NIL NIL \"MISSING_MAILBOX\""
			" \"MISSING_DOMAIN\")(\"Real Name\" NIL \"x\" \"y\")) (({3}\r\n"
			"a\"b NIL \"c\" \"d\")(\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"x\")(\"Mr. "
			"Smith\" NIL \"s\" \"x\")) NIL NIL))",
		.sections =
			"HEADER 0 159 159\n"
			"TEXT 159 160 1\n"
			"- 0 160 160\n"
			"1 159 160 1\n"
			"1.MIME 0 159 159\n",
	},
	{
		.name = "missing",
		.crlf = true,
		.msg =
			"X-Only: header\n"
			"\n"
			"body without known headers\n",
		.fetch =
			"(RFC822.SIZE 46 BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-asc"
			"ii\") NIL NIL \"7bit\" 28 1 NIL NIL NIL NIL) BODY (\"text\" \"plain\" ("
			"\"charset\" \"us-ascii\") NIL NIL \"7bit\" 28 1) ENVELOPE (NIL NIL NIL "
			"NIL NIL NIL NIL NIL NIL NIL))",
		.sections =
			"HEADER 0 18 18\n"
			"TEXT 18 46 28\n"
			"- 0 46 46\n"
			"1 18 46 28\n"
			"1.MIME 0 18 18\n",
	},
	{
		.name = "no_header",
		.crlf = true,
		.msg =
			"\n"
			"only a body\n",
		.fetch =
			"(RFC822.SIZE 15 BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-asc"
			"ii\") NIL NIL \"7bit\" 13 1 NIL NIL NIL NIL) BODY (\"text\" \"plain\" ("
			"\"charset\" \"us-ascii\") NIL NIL \"7bit\" 13 1) ENVELOPE (NIL NIL NIL "
			"NIL NIL NIL NIL NIL NIL NIL))",
		.sections =
			"HEADER 0 2 2\n"
			"TEXT 2 15 13\n"
			"- 0 15 15\n"
			"1 2 15 13\n"
			"1.MIME 0 2 2\n",
	},
	{
		.name = "8bit",
		.crlf = true,
		.msg =
			"From: J\xf6rg Schr\xf6""der <j@x.de>\n"
			"Subject: Gr\xfc\xdf""e \"quoted\" \\ back\n"
			"Content-Type: text/plain; charset=iso-8859-1; name=\"f\xf6.txt\"\n"
			"Content-Description: D\xe9sc\n"
			"\n"
			"body \xe4\xf6\xfc\n",
		.fetch =
			"(RFC822.SIZE 162 BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"iso-8"
			"859-1\" \"name\" {6}\r\n"
			"f\xf6.txt) NIL {4}\r\n"
			"D\xe9sc \"7bit\" 10 1 NIL NIL NIL NIL) BODY (\"text\" \"plain\" (\"char"
			"set\" \"iso-8859-1\" \"name\" {6}\r\n"
			"f\xf6.txt) NIL {4}\r\n"
			"D\xe9sc \"7bit\" 10 1) ENVELOPE (NIL {21}\r\n"
			"Gr\xfc\xdf""e \"quoted\" \\ back (({13}\r\n"
			"J\xf6rg Schr\xf6""der NIL \"j\" \"x.de\")) (({13}\r\n"
			"J\xf6rg Schr\xf6""der NIL \"j\" \"x.de\")) (({13}\r\n"
			"J\xf6rg Schr\xf6""der NIL \"j\" \"x.de\")) NIL NIL NIL NIL NIL))",
		.sections =
			"HEADER 0 152 152\n"
			"TEXT 152 162 10\n"
			"- 0 162 162\n"
			"1 152 162 10\n"
			"1.MIME 0 152 152\n",
	},
	{
		.name = "no_trailing_newline",
		.crlf = true,
		.msg =
			"Subject: no newline\n"
			"Content-Type: multipart/mixed; boundary=b\n"
			"\n"
			"--b\n"
			"Content-Type: text/plain\n"
			"\n"
			"last line without newline\n"
			"--b--\n"
			"the end",
		.fetch =
			"(RFC822.SIZE 140 BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-a"
			"scii\") NIL NIL \"7bit\" 25 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" "
			"\"b\") NIL NIL NIL) BODY ((\"text\" \"plain\" (\"charset\" \"us-ascii\""
			") NIL NIL \"7bit\" 25 0) \"mixed\") ENVELOPE (NIL \"no newline\" NIL NI"
			"L NIL NIL NIL NIL NIL NIL))",
		.sections =
			"HEADER 0 66 66\n"
			"TEXT 66 140 74\n"
			"- 0 140 140\n"
			"1 99 124 25\n"
			"1.MIME 71 99 28\n",
	},
	{
		.name = "lf_lf",
		.crlf = false,
		.msg =
			"From: fwd@example.com\n"
			"To: you@example.com\n"
			"Subject: Fwd: report\n"
			"MIME-Version: 1.0\n"
			"Content-Type: multipart/mixed; boundary=outer\n"
			"\n"
			"--outer\n"
			"Content-Type: text/plain\n"
			"\n"
			"See below.\n"
			"--outer\n"
			"Content-Type: message/rfc822\n"
			"Content-Disposition: inline\n"
			"\n"
			"From: Orig Sender <orig@example.net>\n"
			"To: fwd@example.com\n"
			"Cc: \"Team, All\" <team@example.net>\n"
			"Subject: report\n"
			"Date: Wed, 31 Dec 2025 23:59:60 +0100\n"
			"Message-ID: <report.7@example.net>\n"
			"MIME-Version: 1.0\n"
			"Content-Type: multipart/mixed; boundary=inner\n"
			"\n"
			"--inner\n"
			"Content-Type: text/plain; charset=us-ascii\n"
			"\n"
			"numbers inside\n"
			"--inner\n"
			"Content-Type: message/rfc822\n"
			"\n"
			"Subject: deepest\n"
			"\n"
			"deep body\n"
			"--inner--\n"
			"--outer\n"
			"Content-Type: multipart/digest; boundary=dig\n"
			"\n"
			"--dig\n"
			"\n"
			"Subject: digest member\n"
			"From: d@example.com\n"
			"\n"
			"member body\n"
			"--dig--\n"
			"--outer--\n",
		.fetch =
			"(RFC822.SIZE 808 BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-a"
			"scii\") NIL NIL \"7bit\" 10 0 NIL NIL NIL NIL)(\"message\" \"rfc822\" N"
			"IL NIL NIL \"7bit\" 409 (\"Wed, 31 Dec 2025 23:59:60 +0100\" \"report\""
			" ((\"Orig Sender\" NIL \"orig\" \"example.net\")) ((\"Orig Sender\" NIL"
			" \"orig\" \"example.net\")) ((\"Orig Sender\" NIL \"orig\" \"example.ne"
			"t\")) ((NIL NIL \"fwd\" \"example.com\")) ((\"Team, All\" NIL \"team\" "
			"\"example.net\")) NIL NIL \"<report.7@example.net>\") ((\"text\" \"plai"
			"n\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 0 NIL NIL NIL NIL)(\""
			"message\" \"rfc822\" NIL NIL NIL \"7bit\" 29 (NIL \"deepest\" NIL NIL N"
			"IL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") "
			"NIL NIL \"7bit\" 9 0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL) \"mixed\" (\"b"
			"oundary\" \"inner\") NIL NIL NIL) 20 NIL (\"inline\" NIL) NIL NIL)((\"m"
			"essage\" \"rfc822\" NIL NIL NIL \"7bit\" 58 (NIL \"digest member\" ((NI"
			"L NIL \"d\" \"example.com\")) ((NIL NIL \"d\" \"example.com\")) ((NIL N"
			"IL \"d\" \"example.com\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\""
			"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 0 NIL NIL NIL NIL) 3 NIL NI"
			"L NIL NIL) \"digest\" (\"boundary\" \"dig\") NIL NIL NIL) \"mixed\" (\""
			"boundary\" \"outer\") NIL NIL NIL) BODY ((\"text\" \"plain\" (\"charset"
			"\" \"us-ascii\") NIL NIL \"7bit\" 10 0)(\"message\" \"rfc822\" NIL NIL "
			"NIL \"7bit\" 409 (\"Wed, 31 Dec 2025 23:59:60 +0100\" \"report\" ((\"Or"
			"ig Sender\" NIL \"orig\" \"example.net\")) ((\"Orig Sender\" NIL \"orig"
			"\" \"example.net\")) ((\"Orig Sender\" NIL \"orig\" \"example.net\")) ("
			"(NIL NIL \"fwd\" \"example.com\")) ((\"Team, All\" NIL \"team\" \"examp"
			"le.net\")) NIL NIL \"<report.7@example.net>\") ((\"text\" \"plain\" (\""
			"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 0)(\"message\" \"rfc822\" N"
			"IL NIL NIL \"7bit\" 29 (NIL \"deepest\" NIL NIL NIL NIL NIL NIL NIL NIL"
			") (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 9 0) "
			"2) \"mixed\") 20)((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 58 (NIL "
			"\"digest member\" ((NIL NIL \"d\" \"example.com\")) ((NIL NIL \"d\" \"e"
			"xample.com\")) ((NIL NIL \"d\" \"example.com\")) NIL NIL NIL NIL NIL) ("
			"\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 0) 3)"
			" \"digest\") \"mixed\") ENVELOPE (NIL \"Fwd: report\" ((NIL NIL \"fwd\""
			" \"example.com\")) ((NIL NIL \"fwd\" \"example.com\")) ((NIL NIL \"fwd\""
			" \"example.com\")) ((NIL NIL \"you\" \"example.com\")) NIL NIL NIL NIL)"
			")",
		.sections =
			"HEADER 0 128 134\n"
			"TEXT 128 763 674\n"
			"- 0 763 808\n"
			"1 162 172 10\n"
			"1.MIME 136 162 28\n"
			"2 239 628 409\n"
			"2.MIME 181 239 61\n"
			"2.HEADER 239 485 255\n"
			"2.TEXT 485 628 154\n"
			"2.1 537 551 14\n"
			"2.1.MIME 493 537 46\n"
			"2.2 590 617 29\n"
			"2.2.MIME 560 590 32\n"
			"2.2.HEADER 590 608 20\n"
			"2.2.TEXT 608 617 9\n"
			"2.2.1 608 617 9\n"
			"2.2.1.MIME 590 608 20\n"
			"3 682 753 78\n"
			"3.MIME 636 682 48\n"
			"3.1 689 744 58\n"
			"3.1.MIME 688 689 2\n"
			"3.1.HEADER 689 733 47\n"
			"3.1.TEXT 733 744 11\n"
			"3.1.1 733 744 11\n"
			"3.1.1.MIME 689 733 47\n",
	},
	{
		.name = "broken",
		.crlf = true,
		.msg =
			"Subject: broken\n"
			"Content-Type: multipart/mixed; boundary=b1\n"
			"\n"
			"--b1\n"
			"Content-Type: text/plain\n"
			"--b1\n"
			"Content-Type: multipart/alternative; boundary=b2\n"
			"\n"
			"--b2\n"
			"Content-Type: text/plain\n"
			"\n"
			"unterminated inner\n"
			"--b1\n"
			"Content-Type: message/rfc822\n"
			"\n"
			"--b1\n"
			"Content-Type: text/plain\n"
			"\n"
			"blank line then boundary cuts the header\n"
			"--b1\n"
			"Content-Type: text/html\n"
			"\n"
			"--b1\n"
			"Content-Type: multipart/mixed\n"
			"\n"
			"no boundary parameter\n"
			"--b1\n"
			"Content-Type: multipart/mixed; boundary=b1x\n"
			"\n"
			"--b1x\n"
			"\n"
			"prefix boundary\n"
			"--b1x--\n"
			"--b1--\n"
			"epilogue\n",
		.fetch =
			"(RFC822.SIZE 522 BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-a"
			"scii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)((\"text\" \"plain\" (\"ch"
			"arset\" \"us-ascii\") NIL NIL \"7bit\" 18 0 NIL NIL NIL NIL) \"alternat"
			"ive\" (\"boundary\" \"b2\") NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL"
			" NIL \"7bit\" 0 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"p"
			"lain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)"
			" 0 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL N"
			"IL \"7bit\" 40 0 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"us-a"
			"scii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)((\"text\" \"plain\" (\"ch"
			"arset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" N"
			"IL NIL NIL NIL)((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
			"\"7bit\" 15 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"b1x\") NIL NIL"
			" NIL) \"mixed\" (\"boundary\" \"b1\") NIL NIL NIL) BODY ((\"text\" \"pl"
			"ain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)((\"text\" \"plai"
			"n\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 18 0) \"alternative\")("
			"\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 0 (NIL NIL NIL NIL NIL NIL "
			"NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL"
			" \"7bit\" 0 0) 0)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL"
			" \"7bit\" 40 0)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \""
			"7bit\" 0 0)((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7b"
			"it\" 0 0) \"mixed\")((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL"
			" NIL \"7bit\" 15 0) \"mixed\") \"mixed\") ENVELOPE (NIL \"broken\" NIL "
			"NIL NIL NIL NIL NIL NIL NIL))",
		.sections =
			"HEADER 0 63 63\n"
			"TEXT 63 522 459\n"
			"- 0 522 522\n"
			"1 93 93 0\n"
			"1.MIME 69 93 24\n"
			"2 153 205 52\n"
			"2.MIME 101 153 52\n"
			"2.1 187 205 18\n"
			"2.1.MIME 159 187 28\n"
			"3 243 243 0\n"
			"3.MIME 213 243 30\n"
			"3.HEADER 243 243 0\n"
			"3.TEXT 243 243 0\n"
			"3.1 243 243 0\n"
			"3.1.MIME 243 243 0\n"
			"4 279 319 40\n"
			"4.MIME 251 279 28\n"
			"5 352 352 0\n"
			"5.MIME 327 352 25\n"
			"6 393 414 21\n"
			"6.MIME 360 393 33\n"
			"7 469 504 35\n"
			"7.MIME 422 469 47\n"
			"7.1 478 493 15\n"
			"7.1.MIME 476 478 2\n",
	},
	{
		.name = "bad_ct",
		.crlf = true,
		.msg =
			"Content-Type: text/plain garbage; charset=utf-8\n"
			"Content-Transfer-Encoding: base64 junk\n"
			"\n"
			"x\n",
		.fetch =
			"(RFC822.SIZE 94 BODYSTRUCTURE (\"\" \"\" NIL NIL NIL \"7bit\" 3 NIL NIL"
			" NIL NIL) BODY (\"\" \"\" NIL NIL NIL \"7bit\" 3) ENVELOPE (NIL NIL NIL"
			" NIL NIL NIL NIL NIL NIL NIL))",
		.sections =
			"HEADER 0 91 91\n"
			"TEXT 91 94 3\n"
			"- 0 94 94\n"
			"1 91 94 3\n"
			"1.MIME 0 91 91\n",
	},
	{
		.name = "params",
		.crlf = true,
		.msg =
			"Content-Type: TEXT/Plain; CHARSET=ISO-8859-1; format=\"flowed\"; a=b=c;"
			" =x; n==?utf-8?b?w7Y=?=; t*0=\"a b\"; t*1=c; u*0*=x; u*1=%; u*2*=%25\n"
			"\n"
			"x\n",
		.fetch =
			"(RFC822.SIZE 142 BODYSTRUCTURE (\"TEXT\" \"Plain\" (\"CHARSET\" \"ISO-8"
			"859-1\" \"format\" \"flowed\" \"a\" \"b\" \"\" \"x\" \"n\" \"=?utf-8?b?"
			"w7Y=?=\" \"t\" \"a bc\" \"u*\" \"x%25%25\") NIL NIL \"7bit\" 3 1 NIL NI"
			"L NIL NIL) BODY (\"TEXT\" \"Plain\" (\"CHARSET\" \"ISO-8859-1\" \"forma"
			"t\" \"flowed\" \"a\" \"b\" \"\" \"x\" \"n\" \"=?utf-8?b?w7Y=?=\" \"t\" "
			"\"a bc\" \"u*\" \"x%25%25\") NIL NIL \"7bit\" 3 1) ENVELOPE (NIL NIL NI"
			"L NIL NIL NIL NIL NIL NIL NIL))",
		.sections =
			"HEADER 0 139 139\n"
			"TEXT 139 142 3\n"
			"- 0 142 142\n"
			"1 139 142 3\n"
			"1.MIME 0 139 139\n",
	},
	{
		.name = "header_quirks",
		.crlf = true,
		.msg = HEADER_QUIRKS_MSG,
		.len = sizeof(HEADER_QUIRKS_MSG) - 1,
		.fetch =
			"(RFC822.SIZE 550 BODYSTRUCTURE ((\"text\" \"plain\" (\"name\" {5}\r\n"
			"x\xef\xbf\xbdy \"z\" \"w\" \"c\" \"d\" \"charset\" \"us-ascii\") NIL {5"
			"}\r\n"
			"d\xef\xbf\xbd""e \"7bit\" 13 0 NIL (\"attach\" (\"filename\" {5}\r\n"
			"f\xef\xbf\xbdg)) (\"e\") NIL)(\"\" \"\" NIL NIL NIL \"7bit\" 1 NIL NIL "
			"NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
			"0 0 NIL NIL NIL NIL)((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL"
			" NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"related\" (\"boundary\" \"inner\")"
			" NIL NIL NIL) \"mixed\" (\"boundary\" \"b\") NIL NIL NIL) BODY ((\"text"
			"\" \"plain\" (\"name\" {5}\r\n"
			"x\xef\xbf\xbdy \"z\" \"w\" \"c\" \"d\" \"charset\" \"us-ascii\") NIL {5"
			"}\r\n"
			"d\xef\xbf\xbd""e \"7bit\" 13 0)(\"\" \"\" NIL NIL NIL \"7bit\" 1)(\"tex"
			"t\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)((\"text\""
			" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"related\""
			") \"mixed\") ENVELOPE ({7}\r\n"
			"D\xef\xbf\xbd""ate {9}\r\n"
			"s\xef\xbf\xbdt end (({7}\r\n"
			"na\xef\xbf\xbdme NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")) (({7}\r\n"
			"na\xef\xbf\xbdme NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")) (({7}\r\n"
			"na\xef\xbf\xbdme NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")) ((NIL NIL \"tra"
			"iling\" \"MISSING_DOMAIN\")(NIL NIL \"x\" \"y\")({4}\r\n"
			"a\\ b NIL \"q\" \"r\")) ((NIL NIL \"a\" \"SYNTAX_ERROR\")) NIL \" <x@y>"
			"\" \"   \"))",
		.sections =
			"HEADER 0 226 226\n"
			"TEXT 226 550 324\n"
			"- 0 550 550\n"
			"1 386 399 13\n"
			"1.MIME 231 386 155\n"
			"2 452 453 1\n"
			"2.MIME 406 452 46\n"
			"3 485 485 0\n"
			"3.MIME 460 485 25\n"
			"4 541 541 0\n"
			"4.MIME 492 541 49\n",
	},
};

/* ---- helpers ---- */

static char *msg_bytes(const struct vector *v, size_t *len_r)
{
	size_t n = v->len != 0 ? v->len : strlen(v->msg), o = 0;
	char *out = malloc(2 * n + 1);

	assert_non_null(out);
	for (size_t i = 0; i < n; i++) {
		if (v->crlf && v->msg[i] == '\n')
			out[o++] = '\r';
		out[o++] = v->msg[i];
	}
	out[o] = '\0';
	*len_r = o;
	return out;
}

static const struct vector *vector_get(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(vectors); i++) {
		if (strcmp(vectors[i].name, name) == 0)
			return &vectors[i];
	}
	fail_msg("no vector %s", name);
	return NULL;
}

static struct mime_message *parse(const char *data, size_t len, struct arena *a)
{
	struct mime_message *msg;
	const char *error;

	assert_int_equal(mime_parse(data, len, a, &msg, &error), 0);
	return msg;
}

/* fed in pieces: cuts are the offsets where a new piece starts */
static struct mime_message *parse_pieces(const char *data, size_t len, size_t step, size_t cut,
					 struct arena *a)
{
	struct mime_parser *p = mime_parser_new(a, NULL);
	const char *error;

	if (step == 0) {
		assert_int_equal(mime_parser_feed(p, data, cut, &error), 0);
		assert_int_equal(mime_parser_feed(p, data + cut, len - cut, &error), 0);
	} else {
		for (size_t off = 0; off < len; off += step)
			assert_int_equal(mime_parser_feed(p, data + off, MIN(step, len - off), &error),
					 0);
	}
	return mime_parser_finish(&p);
}

/* everything a message yields, as one string to compare */
static void render(const struct mime_message *msg, struct buf *out)
{
	buf_clear(out);
	assert_int_equal(buf_printf(out, "(RFC822.SIZE %llu BODYSTRUCTURE ",
				    (unsigned long long)msg->vsize), 0);
	assert_int_equal(mime_bodystructure(msg->root, true, out), 0);
	assert_int_equal(buf_append_str(out, " BODY "), 0);
	assert_int_equal(mime_bodystructure(msg->root, false, out), 0);
	assert_int_equal(buf_append_str(out, " ENVELOPE "), 0);
	assert_int_equal(mime_envelope(msg->root->envelope, out), 0);
	assert_int_equal(buf_append_str(out, ")"), 0);
}

static void render_all(const struct mime_message *msg, struct buf *out)
{
	render(msg, out);
	assert_int_equal(buf_printf(out, "\nparts=%u text=%zu:", msg->part_count, msg->text_len),
			 0);
	assert_int_equal(buf_append(out, msg->text, msg->text_len), 0);
	assert_int_equal(buf_printf(out, "\npreview=%s\nblob=", msg->preview), 0);
	assert_int_equal(mime_parts_encode(msg->root, out), 0);
}

/* "1.2.MIME" -> nums {1, 2}, kind MIME; "-" -> BODY[] */
static size_t section_parse(const char *s, uint32_t *nums, enum mime_section *kind)
{
	size_t count = 0;

	*kind = MIME_SECTION_BODY;
	if (strcmp(s, "-") == 0)
		return 0;
	while (*s != '\0') {
		if (*s >= '0' && *s <= '9') {
			char *end;

			nums[count++] = (uint32_t)strtoul(s, &end, 10);
			s = end;
		} else if (strcmp(s, "MIME") == 0) {
			*kind = MIME_SECTION_MIME;
			break;
		} else if (strcmp(s, "HEADER") == 0) {
			*kind = MIME_SECTION_HEADER;
			break;
		} else if (strcmp(s, "TEXT") == 0) {
			*kind = MIME_SECTION_TEXT;
			break;
		}
		if (*s == '.')
			s++;
	}
	return count;
}

static void check_sections(const struct mime_part *root, const char *sections, const char *name)
{
	char line[256];

	while (*sections != '\0') {
		const char *nl = strchr(sections, '\n');
		size_t n = (size_t)(nl - sections);
		char sec[128];
		unsigned long long start, end, vsize;
		uint32_t nums[32];
		enum mime_section kind;
		struct mime_range r;
		const char *error;
		size_t count;

		assert_non_null(nl);
		assert_true(n < sizeof(line));
		memcpy(line, sections, n);
		line[n] = '\0';
		sections = nl + 1;
		assert_int_equal(sscanf(line, "%127s %llu %llu %llu", sec, &start, &end, &vsize), 4);
		count = section_parse(sec, nums, &kind);
		if (mime_section_find(root, nums, count, kind, &r, &error) < 0)
			fail_msg("%s: section %s: %s", name, sec, error);
		if (r.start != start || r.end != end || r.vsize != vsize)
			fail_msg("%s: section %s: got %llu %llu %llu, want %s", name, sec,
				 (unsigned long long)r.start, (unsigned long long)r.end,
				 (unsigned long long)r.vsize, line);
	}
}

/* ---- Dovecot vectors ---- */

static void test_dovecot_vectors(void **state)
{
	struct buf out;

	(void)state;
	buf_init(&out, 0);
	for (size_t i = 0; i < ARRAY_SIZE(vectors); i++) {
		const struct vector *v = &vectors[i];
		struct arena *a = arena_new(4096);
		size_t len;
		char *data = msg_bytes(v, &len);
		struct mime_message *msg = parse(data, len, a);

		render(msg, &out);
		if (strcmp(out.data, v->fetch) != 0)
			fail_msg("%s:\n got: %s\nwant: %s", v->name, out.data, v->fetch);
		check_sections(msg->root, v->sections, v->name);
		arena_free(&a);
		free(data);
	}
	buf_free(&out);
}

/* line ends split between reads, found by the fuzzer and by hand */
static const struct vector split_extra[] = {
	{ .name = "cr-cr-lf", .msg = "Subject: x\r\r\n\nbody\r\r\n\n\r" },
	{ .name = "cr-boundary",
	  .msg = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\na\r\r\n--b\r\rx\r\n"
		 "--b\r\n\r\n\r\n--b--\r" },
	{ .name = "qp-cr",
	  .msg = "Content-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: "
		 "quoted-printable\r\n\r\n=F0=D2\r=\r\n\xf0\r\n" },
	{ .name = "lone-dashes", .msg = "\n\n\r\n-\r\n--\r\n---\n" },
	{ .name = "eoh-boundary",
	  .msg = "Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: message/rfc822\n"
		 "\n--x\nContent-Type: multipart/mixed; boundary=y\n\n--x--" },
};

static void check_split(const struct vector *v, struct buf *whole, struct buf *piece)
{
	size_t len;
	char *data = msg_bytes(v, &len);
	struct arena *a = arena_new(4096);

	render_all(parse(data, len, a), whole);
	for (size_t cut = 1; cut < len; cut++) {
		arena_reset(a);
		render_all(parse_pieces(data, len, 0, cut, a), piece);
		if (piece->len != whole->len || memcmp(piece->data, whole->data, whole->len) != 0)
			fail_msg("%s: differs when cut at %zu", v->name, cut);
	}
	for (size_t step = 1; step <= 3; step++) {
		arena_reset(a);
		render_all(parse_pieces(data, len, step, 0, a), piece);
		if (piece->len != whole->len || memcmp(piece->data, whole->data, whole->len) != 0)
			fail_msg("%s: differs fed %zu bytes at a time", v->name, step);
	}
	arena_free(&a);
	free(data);
}

static void test_split_anywhere(void **state)
{
	struct buf whole, piece;

	(void)state;
	buf_init(&whole, 0);
	buf_init(&piece, 0);
	for (size_t i = 0; i < ARRAY_SIZE(vectors); i++)
		check_split(&vectors[i], &whole, &piece);
	for (size_t i = 0; i < ARRAY_SIZE(split_extra); i++)
		check_split(&split_extra[i], &whole, &piece);
	buf_free(&whole);
	buf_free(&piece);
}

/* dependencies.md Appendix B: sizes and GMime's byte ranges */
static void test_appendix_b(void **state)
{
	const struct vector *v = vector_get("appendix_b");
	struct arena *a = arena_new(4096);
	const struct mime_part *root, *p1, *p11, *p12, *p2, *inner, *p21, *p22, *p3;
	struct mime_message *msg;
	struct mime_range r;
	const char *error;
	size_t len;
	char *data = msg_bytes(v, &len);

	(void)state;
	assert_int_equal(len, 987);
	msg = parse(data, len, a);
	root = msg->root;
	assert_int_equal(msg->size, 987);
	assert_int_equal(msg->vsize, 987);
	assert_int_equal(msg->part_count, 9);
	/* GMime: headers [0,229); BODY[HEADER] adds the blank line: 231 */
	assert_int_equal(mime_section_find(root, NULL, 0, MIME_SECTION_HEADER, &r, &error), 0);
	assert_int_equal(r.start, 0);
	assert_int_equal(r.end, 231);
	assert_memory_equal(data + 227, "\r\n\r\n", 4);
	p1 = root->children;
	p11 = p1->children;
	p12 = p11->next;
	p2 = p1->next;
	inner = p2->children;
	p21 = inner->children;
	p22 = p21->next;
	p3 = p2->next;
	assert_int_equal(mime_section_find(root, (uint32_t[]){ 1, 1 }, 2, MIME_SECTION_MIME, &r,
					   &error),
			 0);
	assert_int_equal(r.end - r.start, 88);
	assert_int_equal(p11->body_start, 413);
	assert_int_equal(p11->body_end, 444);
	assert_int_equal(p12->body_start, 500);
	assert_int_equal(p12->body_end, 518);
	assert_int_equal(inner->hdr_start, 572);
	assert_int_equal(p21->body_start, 709);
	assert_int_equal(p21->body_end, 719);
	assert_int_equal(p22->body_start, 872);
	assert_int_equal(p22->body_end, 888);
	assert_int_equal(p3->body_start, 940);
	assert_int_equal(p3->body_end, 964);
	/* the message/rfc822 part ends where "\r\n--outer" begins */
	assert_int_equal(p2->body_start, 572);
	assert_int_equal(p2->body_end, 901);
	assert_memory_equal(data + 901, "\r\n--outer", 9);
	assert_int_equal(p2->body_lines, 15);
	assert_true((p2->flags & MIME_PART_MESSAGE) != 0);
	assert_true((p1->flags & MIME_PART_MULTIPART) != 0);
	/* lines: LFs in the body; none without a final newline */
	assert_int_equal(p11->body_lines, 2);
	assert_int_equal(p12->body_lines, 0);
	/* BINARY sizes: quoted-printable and base64 decoded */
	assert_int_equal(p11->binary_size, 27);
	assert_int_equal(p22->binary_size, 10);
	assert_int_equal(p12->binary_size, 18);
	assert_true(p1->binary_size == UINT64_MAX);
	assert_string_equal(p11->charset, "utf-8");
	assert_string_equal(p22->filename, "a.bin");
	/* columns and text */
	assert_string_equal(msg->subject, "Hello W\xc3\xb6rld");
	assert_string_equal(msg->base_subject, "Hello W\xc3\xb6rld");
	assert_string_equal(msg->from.display, "Alice");
	assert_string_equal(msg->to.display, "bob@example.com");
	assert_int_equal(msg->date, 1795428000);
	assert_string_equal(msg->message_id, "1@example.com");
	assert_string_equal(msg->preview, "Hello W\xc3\xb6rld second line");
	assert_string_equal(msg->text, "Hello W\xc3\xb6rld\r\nsecond line\r\n"
				       "Hello W\xc3\xb6rld\ninner body\nno-trailing-newline part");
	arena_free(&a);
	free(data);
}

/* LF-only input is stored as received: offsets are raw, IMAP sizes count
   every bare LF as CRLF, so BODYSTRUCTURE equals the CRLF message's */
static void test_lf_only(void **state)
{
	const struct vector *lf = vector_get("lf_lf"), *crlf = vector_get("rfc822");
	struct arena *a = arena_new(4096);
	struct mime_message *m1, *m2;
	struct mime_range r;
	const char *error;
	size_t len1, len2;
	char *d1 = msg_bytes(lf, &len1), *d2 = msg_bytes(crlf, &len2);

	(void)state;
	assert_string_equal(lf->fetch, crlf->fetch);
	m1 = parse(d1, len1, a);
	m2 = parse(d2, len2, a);
	assert_int_equal(m1->size, len1);
	assert_int_equal(m1->vsize, len2);
	assert_int_equal(m2->vsize, len2);
	assert_true((m1->root->flags & MIME_PART_BARE_LF) != 0);
	assert_true((m2->root->flags & MIME_PART_BARE_LF) == 0);
	assert_int_equal(mime_section_find(m1->root, (uint32_t[]){ 1 }, 1, MIME_SECTION_BODY, &r,
					   &error),
			 0);
	assert_false(r.has_bare_lf); /* the line end is the boundary's */
	assert_memory_equal(d1 + r.start, "See below.", r.end - r.start);
	assert_int_equal(mime_section_find(m1->root, (uint32_t[]){ 2 }, 1, MIME_SECTION_HEADER, &r,
					   &error),
			 0);
	assert_true(r.has_bare_lf);
	assert_int_equal(r.vsize, r.end - r.start + m1->root->children->next->children->hdr_lines);
	arena_free(&a);
	free(d1);
	free(d2);
}

/* ---- SORT / THREAD columns ---- */

static void test_columns(void **state)
{
	const struct vector *v = vector_get("alternative");
	struct arena *a = arena_new(4096);
	struct mime_message *msg;
	size_t len;
	char *data = msg_bytes(v, &len);

	(void)state;
	msg = parse(data, len, a);
	assert_string_equal(msg->subject, "Re: [list] Caf\xc3\xa9 (fwd)");
	assert_string_equal(msg->base_subject, "Caf\xc3\xa9");
	assert_string_equal(msg->from.mailbox, "joerg");
	assert_string_equal(msg->from.domain, "example.de");
	assert_string_equal(msg->from.display, "J\xc3\xb6rg M\xc3\xbcller");
	assert_string_equal(msg->to.display, "list@example.org");
	assert_null(msg->cc.mailbox);
	assert_int_equal(msg->date, 1709679600);
	assert_int_equal(msg->date_tz, -300);
	assert_string_equal(msg->message_id, "alt.1@example.de");
	assert_string_equal(msg->in_reply_to, "orig.1@example.org");
	assert_int_equal(msg->reference_count, 2);
	assert_string_equal(msg->references[0], "root.1@example.org");
	assert_string_equal(msg->references[1], "orig.1@example.org");
	assert_string_equal(msg->preview,
			    "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln, ein l\xc3\xa4ngerer Satz mit "
			    "einem weichen Zeilenumbruch.");
	assert_non_null(strstr(msg->text, "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln & Umgebung"));
	assert_null(strstr(msg->text, "<b>"));
	arena_free(&a);
	free(data);

	/* groups: the first mailbox, not the group name */
	v = vector_get("groups");
	data = msg_bytes(v, &len);
	a = arena_new(4096);
	msg = parse(data, len, a);
	assert_string_equal(msg->from.display, "Joe Q. Public");
	assert_string_equal(msg->to.display, "Mary Smith");
	assert_string_equal(msg->cc.display, "boss@nil.test");
	assert_string_equal(msg->base_subject, "folded subject tab two spaces");
	assert_int_equal(msg->date, -27723480);
	assert_int_equal(msg->date_tz, -210);
	assert_string_equal(msg->in_reply_to, "a@b");
	arena_free(&a);
	free(data);
}

static void test_base_subject(void **state)
{
	static const char *const cases[][2] = {
		{ "Re: hello", "hello" },
		{ "RE: Re: re:  hello", "hello" },
		{ "Fwd: [list] Re: x (fwd)", "x" },
		{ "Fw: hi (fwd) (FWD)", "hi" },
		{ "[list] hello", "hello" },
		{ "[list]", "[list]" },
		{ "[fwd: Re: hello]", "hello" },
		{ "[Fwd: [fwd: hi]]", "hi" },
		{ "Re [x]: hi", "hi" },
		{ "re: fwd[x]: y", "y" },
		{ "Re: [fwd: hi] there", "there" },
		{ "  Re:   spaced \t out  ", "spaced out" },
		{ "=?UTF-8?Q?Re:_Caf=C3=A9?=", "Caf\xc3\xa9" },
		{ "=?ISO-8859-1?Q?Gr=FC=DFe?= (fwd)", "Gr\xc3\xbc\xc3\x9f" "e" },
		{ "Re:", "" },
		{ "", "" },
		{ "Reply: not a leader", "Reply: not a leader" },
		{ "folded\n subject", "folded subject" },
	};
	struct arena *a = arena_new(1024);

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *got = mime_base_subject(slice_cstr(cases[i][0]), a);

		if (strcmp(got, cases[i][1]) != 0)
			fail_msg("base subject of \"%s\": \"%s\", want \"%s\"", cases[i][0], got,
				 cases[i][1]);
	}
	arena_free(&a);
}

static void test_date(void **state)
{
	static const struct {
		const char *s;
		int64_t t;
		int tz;
	} good[] = {
		{ "Mon, 23 Nov 2026 10:00:00 +0000", 1795428000, 0 },
		{ "Tue, 1 Jul 2003 10:52:37 +0200", 1057049557, 120 },
		{ "5 Mar 24 18:00 EST", 1709679600, -300 },
		{ "Thu,\n 13\n Feb 1969\n 23:32 -0330 (Newfoundland Time)", -27723480, -210 },
		{ "Fri, 31 Dec 99 23:59:59 +0000", 946684799, 0 },
		{ "1 Jan 049 00:00 +0000", -662688000, 0 },
		{ "Sun,  6 Nov 1994 08:49:37 GMT", 784111777, 0 },
		{ "6-Nov-1994 08:49:37 +0100", 784108177, 60 },
		{ "(c) Sun, (d) 6 Nov 1994 (e) 08 : 49 : 37 (f) +0000 (g)", 784111777, 0 },
		{ "Sat, 31 Dec 2016 23:59:60 +0000", 1483228799, 0 },
		{ "1 jan 2020 00:00", 1577836800, 0 },
		{ "1 January 2020 00:00 A", 1577836800, 0 },
		{ "29 Feb 2020 00:00 PST", 1582963200, -480 },
	};
	static const char *const bad[] = {
		"", "garbage", "32 Jan 2020 00:00 +0000", "29 Feb 2021 00:00 +0000",
		"1 Foo 2020 00:00", "1 Jan 2020 24:00", "1 Jan 2020 10:00 +0099", "1 Jan 2020",
		"1 Jan 20200 00:00", "Mon, Jan 1 2020 00:00", "1 Jan 1899 00:00 +0000",
	};
	int64_t t;
	int tz;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		if (mime_date_parse(slice_cstr(good[i].s), &t, &tz) < 0)
			fail_msg("date \"%s\" not parsed", good[i].s);
		if (t != good[i].t || tz != good[i].tz)
			fail_msg("date \"%s\": %lld %d, want %lld %d", good[i].s, (long long)t, tz,
				 (long long)good[i].t, good[i].tz);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (mime_date_parse(slice_cstr(bad[i]), &t, &tz) == 0)
			fail_msg("date \"%s\" parsed", bad[i]);
	}
}

/* ---- text extraction and preview ---- */

static struct mime_message *parse_str(const char *s, struct arena *a)
{
	return parse(s, strlen(s), a);
}

static void test_text(void **state)
{
	struct arena *a = arena_new(4096);
	struct mime_message *msg;

	(void)state;
	msg = parse_str("Content-Type: text/html; charset=utf-8\r\n"
			"Content-Transfer-Encoding: base64\r\n\r\n"
			/* <html><head><title>T</title><style>p{}</style></head><body>
			   <p>Hi&nbsp;<b>W&ouml;rld</b> &amp; caf&#233; &#x263A;&bogus;</p>
			   <script>var x="<p>";</script><!-- <b>x</b> --><div>two</div> */
			"PGh0bWw+PGhlYWQ+PHRpdGxlPlQ8L3RpdGxlPjxzdHlsZT5we308L3N0eWxlPjwv\r\n"
			"aGVhZD48Ym9keT48cD5IaSZuYnNwOzxiPlcmb3VtbDtybGQ8L2I+ICZhbXA7IGNh\r\n"
			"ZiYjMjMzOyAmI3gyNjNBOyZib2d1czs8L3A+PHNjcmlwdD52YXIgeD0iPHA+Ijs8\r\n"
			"L3NjcmlwdD48IS0tIDxiPng8L2I+IC0tPjxkaXY+dHdvPC9kaXY+\r\n",
			a);
	assert_string_equal(msg->preview, "Hi W\xc3\xb6rld & caf\xc3\xa9 \xe2\x98\xba&bogus; two");
	assert_null(strstr(msg->text, "var x"));
	assert_null(strstr(msg->text, "T "));

	/* charsets through GMime's iconv: KOI8-R, ks_c_5601-1987, Shift_JIS */
	arena_reset(a);
	msg = parse_str("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
			"--b\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n"
			"\xf0\xd2\xc9\xd7\xc5\xd4 \xcd\xc9\xd2\r\n"
			"--b\r\nContent-Type: text/plain; charset=ks_c_5601-1987\r\n\r\n"
			"\xc7\xd1\xb1\xb9\xbe\xee\r\n"
			"--b\r\nContent-Type: application/octet-stream\r\n\r\nnot text\r\n"
			"--b\r\nContent-Type: text/plain; charset=shift_jis\r\n"
			"Content-Transfer-Encoding: quoted-printable\r\n\r\n=93=FA=96=7B=8C=EA\r\n"
			"--b\r\nContent-Type: text/plain\r\n\r\nundeclared caf\xe9\r\n--b--\r\n",
			a);
	assert_string_equal(msg->text,
			    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xd0\xbc\xd0\xb8\xd1\x80\n"
			    "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4\n"
			    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\n"
			    "undeclared caf\xc3\xa9");
	assert_string_equal(msg->preview, "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
					  "\xd0\xbc\xd0\xb8\xd1\x80");
	assert_false(msg->text_truncated);
	arena_free(&a);
}

static void test_text_limits(void **state)
{
	struct mime_limits lim = MIME_LIMITS_DEFAULT;
	struct arena *a = arena_new(4096);
	struct mime_message *msg;
	const char *error;
	struct buf in;
	size_t chars = 0;

	(void)state;
	buf_init(&in, 0);
	assert_int_equal(buf_append_str(&in, "Subject: long\r\n\r\n"), 0);
	for (int i = 0; i < 300; i++)
		assert_int_equal(buf_append_str(&in, "\xc3\xa4 \t\r\n"), 0);
	/* the limit cuts between characters, never inside one */
	lim.max_text = 7;
	assert_int_equal(mime_parse_limits(in.data, in.len, &lim, a, &msg, &error), 0);
	assert_true(msg->text_truncated);
	assert_int_equal(msg->text_len, 6);
	assert_memory_equal(msg->text, "\xc3\xa4 \t\r\n", 6);
	/* preview: 200 characters, blanks collapsed, none at the end */
	arena_reset(a);
	msg = parse(in.data, in.len, a);
	for (const unsigned char *s = (const unsigned char *)msg->preview; *s != '\0'; s++)
		chars += (*s & 0xc0) != 0x80;
	assert_int_equal(chars, 199);
	assert_memory_equal(msg->preview, "\xc3\xa4 \xc3\xa4 ", 6);
	assert_true(msg->preview[strlen(msg->preview) - 1] != ' ');
	buf_free(&in);
	arena_free(&a);
}

/* ---- decoded parameters, attachments ---- */

static void test_params(void **state)
{
	const struct vector *v = vector_get("attachments");
	struct arena *a = arena_new(4096);
	const struct mime_part *p1, *p2, *p3, *p4;
	struct mime_message *msg;
	size_t len;
	char *data = msg_bytes(v, &len);

	(void)state;
	msg = parse(data, len, a);
	p1 = msg->root->children;
	p2 = p1->next;
	p3 = p2->next;
	p4 = p3->next;
	assert_null(p1->charset);
	assert_null(p1->filename);
	assert_string_equal(p2->filename, "\xe2\x82\xac rates.pdf");
	assert_string_equal(p2->disposition, "attachment");
	assert_int_equal(p2->binary_size, 9); /* "%PDF-1.4\n" */
	assert_string_equal(p2->languages[1], "de-CH");
	assert_string_equal(p3->filename, "long name with spaces.png");
	assert_int_equal(p3->binary_size, 8);
	assert_string_equal(p4->filename, "d\xc3\xa9j\xc3\xa0.txt");
	assert_int_equal(p4->param_count, 2); /* name*0, name*2: a section is missing */
	arena_free(&a);
	free(data);
}

static void test_addresses(void **state)
{
	struct arena *a = arena_new(4096);
	struct mime_address *addr;
	struct buf out;

	(void)state;
	buf_init(&out, 0);
	addr = mime_address_parse(SLICE_LIT("g: a@b, \"C, D\" <c@d>;, e@f (Eve)"), a);
	assert_string_equal(addr->mailbox, "g");
	assert_null(addr->domain);
	assert_string_equal(addr->next->mailbox, "a");
	assert_string_equal(addr->next->next->name, "C, D");
	assert_null(addr->next->next->next->mailbox);
	assert_string_equal(addr->next->next->next->next->name, "Eve");
	assert_null(mime_address_parse(SLICE_LIT("  (only a comment) "), a));
	assert_string_equal(mime_header_decode(SLICE_LIT("=?utf-8?b?SGVsbG8=?= =?utf-8?q?_W?="), a),
			    "Hello W");
	assert_int_equal(mime_imap_nstring(&out, "a\"b\\c"), 0);
	assert_int_equal(mime_imap_nstring(&out, "\"\"\"\"\""), 0);
	assert_int_equal(mime_imap_nstring(&out, NULL), 0);
	assert_int_equal(mime_imap_nstring(&out, "caf\xc3\xa9"), 0);
	assert_string_equal(out.data, "\"a\\\"b\\\\c\"{5}\r\n\"\"\"\"\"NIL{5}\r\ncaf\xc3\xa9");
	buf_free(&out);
	arena_free(&a);
}

/* ---- limits: nesting bombs, 10,000 parts, huge headers ---- */

/* Dovecot opens multiparts and messages only above depth 99; deeper ones
   are application/octet-stream leaves */
static void test_nesting_bomb(void **state)
{
	struct arena *a = arena_new(4096);
	struct buf in, want, got;
	struct mime_message *msg;
	const struct mime_part *p;
	unsigned int depth = 0;
	const char *end;

	(void)state;
	buf_init(&in, 0);
	buf_init(&want, 0);
	buf_init(&got, 0);
	for (int i = 0; i < 150; i++)
		assert_int_equal(buf_printf(&in, "Content-Type: multipart/mixed; boundary=x%03d\r\n"
						 "\r\n--x%03d\r\n",
					    i, i),
				 0);
	assert_int_equal(buf_append_str(&in, "Content-Type: text/plain\r\n\r\nleaf\r\n"), 0);
	for (int i = 149; i >= 0; i--)
		assert_int_equal(buf_printf(&in, "--x%03d--\r\n", i), 0);
	msg = parse(in.data, in.len, a);
	assert_true(msg->limit_hit);
	for (p = msg->root; p->children != NULL; p = p->children)
		depth++;
	assert_int_equal(depth, 99);
	/* the leaf at depth 99 runs to "\r\n--x098--" */
	end = memmem(in.data, in.len, "\r\n--x098--", 10);
	assert_non_null(end);
	for (int i = 0; i < 99; i++)
		assert_int_equal(buf_append_str(&want, "("), 0);
	assert_int_equal(buf_printf(&want,
				    "(\"application\" \"octet-stream\" (\"boundary\" \"x099\") NIL NIL "
				    "\"7bit\" %llu NIL NIL NIL NIL)",
				    (unsigned long long)((uint64_t)(end - in.data) - p->body_start)),
			 0);
	for (int i = 98; i >= 0; i--)
		assert_int_equal(buf_printf(&want, " \"mixed\" (\"boundary\" \"x%03d\") NIL NIL NIL)",
					    i),
				 0);
	assert_int_equal(mime_bodystructure(msg->root, true, &got), 0);
	assert_string_equal(got.data, want.data);

	/* message/rfc822 nested 150 deep */
	arena_reset(a);
	buf_clear(&in);
	buf_clear(&want);
	buf_clear(&got);
	for (int i = 0; i < 150; i++)
		assert_int_equal(buf_append_str(&in, "Content-Type: message/rfc822\r\n\r\n"), 0);
	assert_int_equal(buf_append_str(&in, "Subject: x\r\n\r\nleaf\r\n"), 0);
	msg = parse(in.data, in.len, a);
	assert_int_equal(buf_append_str(&want, "("), 0);
	for (int i = 0; i < 99; i++) {
		uint64_t start = 32 * (uint64_t)(i + 1);

		assert_int_equal(buf_printf(&want, "\"message\" \"rfc822\" NIL NIL NIL \"7bit\" %llu "
						   "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (",
					    (unsigned long long)(in.len - start)),
				 0);
	}
	assert_int_equal(buf_printf(&want,
				    "\"application\" \"octet-stream\" NIL NIL NIL \"7bit\" %llu NIL NIL "
				    "NIL NIL",
				    (unsigned long long)(in.len - 32 * 100)),
			 0);
	for (int i = 98; i >= 0; i--) {
		uint64_t lines = 0;

		for (size_t j = 32 * (size_t)(i + 1); j < in.len; j++)
			lines += in.data[j] == '\n';
		assert_int_equal(buf_printf(&want, ") %llu NIL NIL NIL NIL", (unsigned long long)lines),
				 0);
	}
	assert_int_equal(buf_append_str(&want, ")"), 0);
	assert_int_equal(mime_bodystructure(msg->root, true, &got), 0);
	assert_string_equal(got.data, want.data);

	/* 20,000 levels of both: bounded, linear, no recursion trouble */
	arena_reset(a);
	buf_clear(&in);
	for (int i = 0; i < 20000; i++)
		assert_int_equal(buf_printf(&in, "Content-Type: multipart/mixed; boundary=b%05d\r\n"
						 "\r\n--b%05d\r\nContent-Type: message/rfc822\r\n\r\n",
					    i, i),
				 0);
	msg = parse(in.data, in.len, a);
	assert_true(msg->part_count <= 100);
	buf_clear(&got);
	assert_int_equal(mime_bodystructure(msg->root, true, &got), 0);
	buf_free(&in);
	buf_free(&want);
	buf_free(&got);
	arena_free(&a);
}

/* the 10,000th part is the limit: later boundaries are body text */
static void test_many_parts(void **state)
{
	struct arena *a = arena_new(4096);
	struct buf in, want, got;
	struct mime_message *msg;
	char tail[64];
	int n;

	(void)state;
	buf_init(&in, 0);
	buf_init(&want, 0);
	buf_init(&got, 0);
	assert_int_equal(buf_append_str(&in, "Content-Type: multipart/mixed; boundary=x\r\n\r\n"), 0);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(buf_printf(&in, "--x\r\n\r\np%d\r\n", i), 0);
	assert_int_equal(buf_append_str(&in, "--x--\r\n"), 0);
	msg = parse(in.data, in.len, a);
	assert_int_equal(msg->part_count, 10000);
	assert_true(msg->limit_hit);
	assert_int_equal(buf_append_str(&want, "("), 0);
	for (int i = 0; i < 9998; i++)
		assert_int_equal(buf_printf(&want,
					    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
					    "\"7bit\" %d 0)",
					    snprintf(tail, sizeof(tail), "p%d", i)),
				 0);
	/* Dovecot: the last part takes the rest, "p9998" to the end */
	n = snprintf(tail, sizeof(tail), "p9998\r\n--x\r\n\r\np9999\r\n--x--\r\n");
	assert_int_equal(buf_printf(&want,
				    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" %d "
				    "5) \"mixed\")",
				    n),
			 0);
	assert_int_equal(mime_bodystructure(msg->root, false, &got), 0);
	assert_string_equal(got.data, want.data);
	buf_free(&in);
	buf_free(&want);
	buf_free(&got);
	arena_free(&a);
}

static void test_header_limits(void **state)
{
	struct mime_limits lim = MIME_LIMITS_DEFAULT;
	struct arena *a = arena_new(4096);
	struct mime_message *msg;
	struct mime_parser *p;
	unsigned int count = 0;
	const char *error;
	struct buf in;

	(void)state;
	buf_init(&in, 0);
	/* one field is kept up to max_field bytes */
	assert_int_equal(buf_append_str(&in, "Subject: "), 0);
	for (int i = 0; i < 100000; i++)
		assert_int_equal(buf_append(&in, "x", 1), 0);
	assert_int_equal(buf_append_str(&in, "\r\n\r\nbody\r\n"), 0);
	msg = parse(in.data, in.len, a);
	assert_true(msg->limit_hit);
	assert_true(strlen(msg->root->envelope->subject) < lim.max_field);
	assert_int_equal(msg->root->body_end - msg->root->body_start, 6);
	/* "To: ,,,,": an address per comma, but not without end */
	arena_reset(a);
	buf_clear(&in);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(buf_append_str(&in, "To: "), 0);
		for (int j = 0; j < 30000; j++)
			assert_int_equal(buf_append(&in, ",", 1), 0);
		assert_int_equal(buf_append_str(&in, "\r\n"), 0);
	}
	assert_int_equal(buf_append_str(&in, "\r\nbody\r\n"), 0);
	msg = parse(in.data, in.len, a);
	for (const struct mime_address *ad = msg->root->envelope->to; ad != NULL; ad = ad->next)
		count++;
	assert_true(count > 1000 && count <= 10001);
	/* size limit */
	arena_reset(a);
	lim.max_size = 10;
	p = mime_parser_new(a, &lim);
	assert_int_equal(mime_parser_feed(p, "Subject: x\r\n", 12, &error), -1);
	assert_string_equal(error, "Message too large");
	mime_parser_free(&p);
	assert_null(p);
	assert_int_equal(mime_parse_limits("Subject: x\r\n", 12, &lim, a, &msg, &error), -1);
	buf_free(&in);
	arena_free(&a);
}

/* ---- stored part tree ---- */

static void test_parts_encoding(void **state)
{
	struct buf blob;

	(void)state;
	buf_init(&blob, 0);
	for (size_t i = 0; i < ARRAY_SIZE(vectors); i++) {
		const struct vector *v = &vectors[i];
		struct arena *a = arena_new(4096);
		struct mime_part *root;
		const char *error;
		size_t len;
		char *data = msg_bytes(v, &len);
		struct mime_message *msg = parse(data, len, a);

		buf_clear(&blob);
		assert_int_equal(mime_parts_encode(msg->root, &blob), 0);
		assert_int_equal(mime_parts_decode(blob.data, blob.len, a, &root, &error), 0);
		check_sections(root, v->sections, v->name);
		/* every truncation fails cleanly; every flipped byte decodes
		   or fails without reading or promising out of range */
		for (size_t n = 0; n < blob.len; n++)
			assert_int_equal(mime_parts_decode(blob.data, n, a, &root, &error), -1);
		for (size_t n = 0; n < blob.len; n++) {
			for (unsigned int bit = 0; bit < 8; bit++) {
				blob.data[n] ^= (char)(1 << bit);
				if (mime_parts_decode(blob.data, blob.len, a, &root, &error) == 0) {
					for (const struct mime_part *c = root->children; c != NULL;
					     c = c->next)
						assert_true(c->body_end <= root->body_end);
				}
				blob.data[n] ^= (char)(1 << bit);
			}
		}
		arena_free(&a);
		free(data);
	}
	buf_free(&blob);
}

static void test_sections(void **state)
{
	const struct vector *v = vector_get("rfc822");
	struct arena *a = arena_new(4096);
	struct mime_range r;
	const char *error;
	size_t len;
	char *data = msg_bytes(v, &len);
	struct mime_message *msg = parse(data, len, a);

	(void)state;
	/* 2.HEADER is the encapsulated message's header, 2.MIME the part's */
	assert_int_equal(mime_section_find(msg->root, (uint32_t[]){ 2 }, 1, MIME_SECTION_HEADER, &r,
					   &error),
			 0);
	assert_memory_equal(data + r.start, "From: Orig Sender", 17);
	assert_int_equal(mime_section_find(msg->root, (uint32_t[]){ 2 }, 1, MIME_SECTION_MIME, &r,
					   &error),
			 0);
	assert_memory_equal(data + r.start, "Content-Type: message/rfc822", 28);
	/* 2.2.1: part 2 of the inner multipart is a message; its body */
	assert_int_equal(mime_section_find(msg->root, (uint32_t[]){ 2, 2, 1 }, 3, MIME_SECTION_BODY,
					   &r, &error),
			 0);
	assert_memory_equal(data + r.start, "deep body", 9);
	assert_int_equal(mime_section_find(msg->root, (uint32_t[]){ 1 }, 1, MIME_SECTION_HEADER, &r,
					   &error),
			 -1);
	assert_int_equal(mime_section_find(msg->root, (uint32_t[]){ 9 }, 1, MIME_SECTION_BODY, &r,
					   &error),
			 -1);
	assert_int_equal(mime_section_find(msg->root, (uint32_t[]){ 1, 1 }, 2, MIME_SECTION_BODY, &r,
					   &error),
			 -1);
	assert_int_equal(mime_section_find(msg->root, (uint32_t[]){ 0 }, 1, MIME_SECTION_BODY, &r,
					   &error),
			 -1);
	assert_int_equal(mime_section_find(msg->root, NULL, 0, MIME_SECTION_MIME, &r, &error), -1);
	arena_free(&a);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dovecot_vectors),
		cmocka_unit_test(test_split_anywhere),
		cmocka_unit_test(test_appendix_b),
		cmocka_unit_test(test_lf_only),
		cmocka_unit_test(test_columns),
		cmocka_unit_test(test_base_subject),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_text_limits),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_nesting_bomb),
		cmocka_unit_test(test_many_parts),
		cmocka_unit_test(test_header_limits),
		cmocka_unit_test(test_parts_encoding),
		cmocka_unit_test(test_sections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
