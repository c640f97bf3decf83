/*-------------------------------------------------------------------------
 *
 * search_words.c
 *	  The words of a message body, as the search index holds them.
 *
 * chat_messages_search_idx is a GIN index of chat._search_vector(chat_id,
 * body): the body folded (chat._search_text), split into the words of the
 * 'simple' text search configuration (chat._search_words), and one lexeme
 * naming the chat (chat._search_chat_lexeme).  src/sql/search.sql says why
 * the text is folded so; this file only computes it.
 *
 * Why C: every message sent computes the index expression, and the
 * executor plans an index expression anew for every statement that writes
 * the table.  As SQL functions, each send inlined their bodies (read back
 * from pg_proc as node trees) and still ran one of them through the SQL
 * function executor: a quarter of a send's time.  Here each function is
 * one call of PostgreSQL's own functions (lower, normalize, regexp_replace,
 * to_tsvector, array_to_tsvector, ||), in the order the SQL did, with the
 * caller's collation: the results are the same, which test/pgtap/search.sql
 * checks against that SQL on awkward text.
 *
 * The folding:
 *   - text whose every character is one byte (plain ASCII in UTF-8): lower
 *     case, nothing to normalize;
 *   - otherwise, in a UTF-8 database: NFKD, the combining marks removed
 *     (U+0300-036F, 1AB0-1AFF, 1DC0-1DFF, 20D0-20FF, FE20-FE2F), NFC, lower
 *     case;
 *   - otherwise lower case.
 * A folded text of 500 characters or more loses its runs of 500 or more
 * characters without a space (a GIN key takes at most about 2,047 bytes).
 *
 * All are IMMUTABLE and STRICT: changing what they return needs a REINDEX
 * of chat_messages_search_idx in the update script.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "tsearch/ts_utils.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/uuid.h"

#include "stylist_chat.h"

/* the combining marks that folding removes, as a regular expression */
#define COMBINING_MARKS \
	"[\\u0300-\\u036f\\u1ab0-\\u1aff\\u1dc0-\\u1dff\\u20d0-\\u20ff\\ufe20-\\ufe2f]"
/* a run of 500 or more characters without a space */
#define LONG_RUN "\\S{250}\\S{250}\\S*"
/* folded text shorter than this (in characters) has no such run */
#define LONG_RUN_CHARS 500

PG_FUNCTION_INFO_V1(chat_search_text);
PG_FUNCTION_INFO_V1(chat_search_words);
PG_FUNCTION_INFO_V1(chat_search_chat_lexeme);
PG_FUNCTION_INFO_V1(chat_search_vector);

/* the OID of text search configuration pg_catalog.simple, looked up once */
static Oid	simple_config = InvalidOid;

static Oid
simple_config_oid(void)
{
	if (!OidIsValid(simple_config))
		simple_config = get_ts_config_oid(list_make2(makeString("pg_catalog"),
													 makeString("simple")),
										  false);
	return simple_config;
}

static Datum
text_arg(const char *s)
{
	return PointerGetDatum(cstring_to_text(s));
}

/* regexp_replace(t, pattern, replacement, 'g') under collation collid */
static Datum
replace_all(Datum t, const char *pattern, const char *replacement, Oid collid)
{
	return DirectFunctionCall4Coll(textregexreplace, collid, t,
								   text_arg(pattern), text_arg(replacement),
								   text_arg("g"));
}

/* the body folded: see the header comment */
static Datum
fold(Datum body, Oid collid)
{
	text	   *t = DatumGetTextPP(body);
	int			bytes = VARSIZE_ANY_EXHDR(t);

	if (pg_mbstrlen_with_len(VARDATA_ANY(t), bytes) != bytes &&
		GetDatabaseEncoding() == PG_UTF8)
	{
		body = DirectFunctionCall2Coll(unicode_normalize_func, collid,
									   body, text_arg("NFKD"));
		body = replace_all(body, COMBINING_MARKS, "", collid);
		body = DirectFunctionCall2Coll(unicode_normalize_func, collid,
									   body, text_arg("NFC"));
	}
	return DirectFunctionCall1Coll(lower, collid, body);
}

/* the words of a body: folded, long runs left out, split by 'simple' */
static Datum
words(Datum body, Oid collid)
{
	Datum		folded = fold(body, collid);
	text	   *t = DatumGetTextPP(folded);
	int			bytes = VARSIZE_ANY_EXHDR(t);

	/* a character is at least a byte: count only a long text */
	if (bytes >= LONG_RUN_CHARS &&
		pg_mbstrlen_with_len(VARDATA_ANY(t), bytes) >= LONG_RUN_CHARS)
		folded = replace_all(folded, LONG_RUN, " ", collid);
	return DirectFunctionCall2Coll(to_tsvector_byid, collid,
								   ObjectIdGetDatum(simple_config_oid()), folded);
}

/* ' chat <uuid>': the lexeme of a chat; the spaces keep it apart from words */
static Datum
chat_lexeme(Datum chat_id)
{
	char	   *uuid = DatumGetCString(DirectFunctionCall1(uuid_out, chat_id));

	return PointerGetDatum(cstring_to_text(psprintf(" chat %s", uuid)));
}

/* the collation of the call, as a SQL function would pass it on */
static Oid
call_collation(FunctionCallInfo fcinfo)
{
	Oid			collid = PG_GET_COLLATION();

	return OidIsValid(collid) ? collid : DEFAULT_COLLATION_OID;
}

/*
 * chat._search_text(body text) returns text
 */
Datum
chat_search_text(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(fold(PG_GETARG_DATUM(0), call_collation(fcinfo)));
}

/*
 * chat._search_words(body text) returns tsvector
 */
Datum
chat_search_words(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(words(PG_GETARG_DATUM(0), call_collation(fcinfo)));
}

/*
 * chat._search_chat_lexeme(chat_id uuid) returns text
 */
Datum
chat_search_chat_lexeme(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(chat_lexeme(PG_GETARG_DATUM(0)));
}

/*
 * chat._search_vector(chat_id uuid, body text) returns tsvector: the words
 * and the chat's lexeme, what the index holds for a message
 */
Datum
chat_search_vector(PG_FUNCTION_ARGS)
{
	Datum		lexeme = chat_lexeme(PG_GETARG_DATUM(0));
	ArrayType  *lexemes = construct_array(&lexeme, 1, TEXTOID, -1, false, TYPALIGN_INT);
	Datum		chat = DirectFunctionCall1(array_to_tsvector, PointerGetDatum(lexemes));

	PG_RETURN_DATUM(DirectFunctionCall2(tsvector_concat,
										words(PG_GETARG_DATUM(1), call_collation(fcinfo)),
										chat));
}
