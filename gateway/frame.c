/*
 * frame.c: a client's frame read into a request, and the frames we send.
 *
 * A client frame is one JSON object: "type" names a request of
 * requests.c, "id" (optional) is a string of at most 64 characters or a
 * number, and the other keys are the request's arguments, each of the
 * JSON kind its spec says.  Anything else is refused here, before the
 * database sees it, with SQLSTATE 08P01 and a message naming what is
 * wrong: a frame that is not JSON, not an object, has no known type, an
 * unknown key, a duplicate key, a missing argument or one of the wrong
 * kind.  A string holding a NUL character is refused (22P05): PostgreSQL
 * text cannot hold it, and a C string would silently cut it.
 *
 * Each argument becomes the text of a statement parameter: strings as
 * they are, whole numbers in decimal, booleans as true/false, JSON
 * arguments compact.  The frames we send are built here too; the data of
 * a result is JSON text made by PostgreSQL and is inserted as it is.
 *
 * frame_parse() allocates only the argument texts (request_free() frees
 * them) and never keeps the input: test/fuzz drives it with libFuzzer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway.h"

#define MAX_ROWS_LIMIT	200

static bool
refuse(Request *req, const char *sqlstate, const char *fmt, const char *what)
{
	req->spec = NULL;
	req->sqlstate = sqlstate;
	snprintf(req->message, sizeof(req->message), fmt, what);
	return false;
}

static const RequestSpec *
find_spec(const char *name)
{
	int			i;

	for (i = 0; i < n_request_specs; i++)
		if (strcmp(request_specs[i].name, name) == 0)
			return &request_specs[i];
	return NULL;
}

/* the text of one argument, or a refusal */
static bool
read_arg(Request *req, const ArgSpec *arg, json_t *v, char **out)
{
	*out = NULL;
	if (json_is_null(v))
		return true;
	switch (arg->kind)
	{
		case ARG_UUID:
		case ARG_TEXT:
		case ARG_TIME:
			if (!json_is_string(v))
				return refuse(req, "08P01", "argument \"%s\" must be a string", arg->name);
			if (strlen(json_string_value(v)) != json_string_length(v))
				return refuse(req, "22P05", "argument \"%s\" contains a NUL character", arg->name);
			*out = strdup(json_string_value(v));
			break;
		case ARG_INT:
			{
				char		buf[32];

				if (!json_is_integer(v))
					return refuse(req, "08P01", "argument \"%s\" must be a whole number", arg->name);
				if (strcmp(arg->name, "max_rows") == 0 &&
					(json_integer_value(v) < 1 || json_integer_value(v) > MAX_ROWS_LIMIT))
					return refuse(req, "22023",
								  "argument \"%s\" must be between 1 and 200 through the gateway",
								  arg->name);
				snprintf(buf, sizeof(buf), "%lld", (long long) json_integer_value(v));
				*out = strdup(buf);
				break;
			}
		case ARG_BOOL:
			if (!json_is_boolean(v))
				return refuse(req, "08P01", "argument \"%s\" must be true or false", arg->name);
			*out = strdup(json_is_true(v) ? "true" : "false");
			break;
		case ARG_JSON:
			*out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			break;
	}
	if (*out == NULL)
		return refuse(req, "53200", "out of memory reading argument \"%s\"", arg->name);
	return true;
}

/*
 * Read a frame.  Returns true with req->spec set, or false with
 * req->sqlstate and req->message saying why (req->id is set as far as
 * the frame allowed, so that the error can name the request).
 */
bool
frame_parse(const char *data, size_t len, Request *req)
{
	json_t	   *root;
	json_t	   *v;
	json_error_t err;
	const char *key;
	const RequestSpec *spec;
	int			i;
	bool		ok = false;

	memset(req, 0, sizeof(*req));
	strcpy(req->id, "null");

	root = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	if (root == NULL)
		return refuse(req, "08P01", "the frame is not valid JSON: %s", err.text);
	if (!json_is_object(root))
	{
		json_decref(root);
		return refuse(req, "08P01", "the frame must be a JSON object%s", "");
	}

	v = json_object_get(root, "id");
	if (v != NULL)
	{
		if (json_is_string(v) && json_string_length(v) <= MAX_ID_LEN &&
			strlen(json_string_value(v)) == json_string_length(v))
		{
			char	   *s = json_dumps(v, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);

			/* an escaped id can outgrow its buffer: refuse it then */
			if (s != NULL && strlen(s) < sizeof(req->id))
				strcpy(req->id, s);
			else
				v = NULL;
			free(s);
		}
		else if (json_is_integer(v))
			snprintf(req->id, sizeof(req->id), "%lld", (long long) json_integer_value(v));
		else
			v = NULL;
		if (v == NULL)
		{
			json_decref(root);
			return refuse(req, "08P01", "\"id\" must be a number or a string of at most 64 characters%s", "");
		}
	}

	v = json_object_get(root, "type");
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
	{
		json_decref(root);
		return refuse(req, "08P01", "the frame has no \"type\"%s", "");
	}
	spec = find_spec(json_string_value(v));
	if (spec == NULL)
	{
		refuse(req, "08P01", "unknown request type \"%.60s\"", json_string_value(v));
		json_decref(root);
		return false;
	}

	/* every key must be known */
	json_object_foreach(root, key, v)
	{
		bool		known = strcmp(key, "type") == 0 || strcmp(key, "id") == 0;

		for (i = 0; !known && i < spec->nargs; i++)
			known = strcmp(key, spec->args[i].name) == 0;
		if (!known)
		{
			refuse(req, "08P01", "unknown argument \"%.60s\"", key);
			goto done;
		}
	}

	for (i = 0; i < spec->nargs; i++)
	{
		const ArgSpec *arg = &spec->args[i];

		v = json_object_get(root, arg->name);
		if (!read_arg(req, arg, v == NULL ? json_null() : v, &req->values[i]))
			goto done;
		if (arg->required && req->values[i] == NULL)
		{
			refuse(req, "08P01", "argument \"%s\" is required", arg->name);
			goto done;
		}
	}

	if (spec->class == REQ_AUTHENTICATE)
	{
		if (strlen(req->values[0]) > MAX_TOKEN_LEN)
		{
			refuse(req, "28000", "invalid token%s", "");
			goto done;
		}
		strcpy(req->token, req->values[0]);
	}
	req->spec = spec;
	ok = true;

done:
	json_decref(root);
	if (!ok)
		request_free(req);
	return ok;
}

void
request_free(Request *req)
{
	int			i;

	for (i = 0; i < MAX_ARGS; i++)
	{
		free(req->values[i]);
		req->values[i] = NULL;
	}
}

/* {"type":"result","id":..,"request":..,"data":<data>} */
char *
frame_result(const Request *req, const char *data)
{
	size_t		n = strlen(req->id) + strlen(req->spec->name) + strlen(data) + 64;
	char	   *out = malloc(n);

	if (out != NULL)
		snprintf(out, n, "{\"type\":\"result\",\"id\":%s,\"request\":\"%s\",\"data\":%s}",
				 req->id, req->spec->name, data);
	return out;
}

/* {"type":"error","id":..,"request":..,"sqlstate":..,"message":..,"hint":..} */
char *
frame_error(const char *id, const char *request, const char *sqlstate,
			const char *message, const char *hint)
{
	json_t	   *o = json_object();
	json_t	   *idv = json_loads(id, JSON_DECODE_ANY, NULL);
	json_t	   *msg;
	char	   *out;

	json_object_set_new(o, "type", json_string("error"));
	json_object_set_new(o, "id", idv != NULL ? idv : json_null());
	json_object_set_new(o, "request", request != NULL ? json_string(request) : json_null());
	json_object_set_new(o, "sqlstate", json_string(sqlstate));
	/* a message cut inside a character is not UTF-8: json_string() refuses it */
	msg = json_string(message != NULL ? message : "");
	json_object_set_new(o, "message", msg != NULL ? msg : json_string("(a message that is not valid UTF-8)"));
	if (hint != NULL && hint[0] != '\0' && (msg = json_string(hint)) != NULL)
		json_object_set_new(o, "hint", msg);
	out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return out;
}

static bool
short_string(json_t *v, size_t max)
{
	return json_is_string(v) && json_string_length(v) <= max &&
		strlen(json_string_value(v)) == json_string_length(v);
}

/*
 * An event frame from a notification payload, rebuilt from its known
 * fields: anybody may NOTIFY their own channel by hand, so a payload is
 * not trusted to be what the relay worker writes.  NULL when it is not.
 */
char *
frame_event(const char *payload, size_t len)
{
	static const char *const kinds[] = {
		"message", "edited", "deleted", "read", "delivered", "chat_created", "hidden",
		"pinned", "unpinned", "reaction", "consent", "typing"
	};
	json_t	   *in;
	json_t	   *ev;
	json_t	   *t,
			   *c,
			   *s,
			   *snd,
			   *ts;
	json_t	   *out;
	char	   *text = NULL;
	size_t		i;
	bool		known = false;

	if (len > 512)
		return NULL;
	in = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(in))
	{
		json_decref(in);
		return NULL;
	}
	t = json_object_get(in, "type");
	c = json_object_get(in, "chat_id");
	s = json_object_get(in, "seq");
	snd = json_object_get(in, "sender_id");
	ts = json_object_get(in, "ts");
	for (i = 0; json_is_string(t) && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		known = known || strcmp(json_string_value(t), kinds[i]) == 0;
	if (known && short_string(c, 36) && (json_is_integer(s) || json_is_null(s)) &&
		(short_string(snd, 36) || json_is_null(snd)) && short_string(ts, 40))
	{
		ev = json_object();
		json_object_set(ev, "type", t);
		json_object_set(ev, "chat_id", c);
		json_object_set(ev, "seq", s);
		json_object_set(ev, "sender_id", snd);
		json_object_set(ev, "ts", ts);
		out = json_object();
		json_object_set_new(out, "type", json_string("event"));
		json_object_set_new(out, "event", ev);
		text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(out);
	}
	json_decref(in);
	return text;
}

/*
 * The expiry a token says it has (version 1: bytes 17-24, version 2:
 * bytes 26-33, a PostgreSQL timestamp, big-endian microseconds since
 * 2000-01-01), as Unix microseconds.  Only to know when to tell the
 * client: the database checked the token.  Returns 0, or -1 when the
 * token is not one of ours.
 */
int
token_expiry(const char *token, int64_t *unix_usec)
{
	unsigned char raw[36];
	int			nraw = 0;
	uint32_t	acc = 0;
	int			bits = 0;
	int			off;
	int64_t		pg = 0;
	const char *p;

	for (p = token; *p != '\0' && nraw < (int) sizeof(raw); p++)
	{
		int			d;

		if (*p >= 'A' && *p <= 'Z')
			d = *p - 'A';
		else if (*p >= 'a' && *p <= 'z')
			d = *p - 'a' + 26;
		else if (*p >= '0' && *p <= '9')
			d = *p - '0' + 52;
		else if (*p == '-')
			d = 62;
		else if (*p == '_')
			d = 63;
		else
			return -1;
		acc = (acc << 6) | (uint32_t) d;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			raw[nraw++] = (unsigned char) (acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (nraw < 34 || (raw[0] != 1 && raw[0] != 2))
		return -1;
	off = raw[0] == 1 ? 17 : 26;
	for (int i = 0; i < 8; i++)
		pg = (int64_t) (((uint64_t) pg << 8) | raw[off + i]);
	/* PostgreSQL's timestamps end long before this overflows: such a token is not ours */
	if (pg < 0 || pg > INT64_MAX - INT64_C(946684800000000))
		return -1;
	*unix_usec = pg + INT64_C(946684800000000);
	return 0;
}
