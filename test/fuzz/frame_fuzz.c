/*
 * frame_fuzz.c: libFuzzer target for the gateway's frame parser
 * (gateway/frame.c).
 *
 * What it tests: on any bytes, frame_parse(), frame_event() and
 * token_expiry() never crash, read out of bounds or leak
 * (AddressSanitizer, UndefinedBehaviorSanitizer), and:
 *   - a frame read as a request has a known spec, every required argument
 *     present, an id that is JSON, and an answer frame (frame_result) that
 *     is a JSON object of type "result";
 *   - a refused frame has a five-character SQLSTATE, a message, no
 *     argument left allocated, and an error frame (frame_error) that is a
 *     JSON object of type "error" carrying that SQLSTATE;
 *   - an event rebuilt from a notification payload (frame_event) is a JSON
 *     object {"type":"event","event":{...}} whose event has exactly the
 *     five known keys.
 * A broken property aborts, which libFuzzer reports as a crash.
 *
 * Build and run: test/fuzz/run.sh.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway.h"

static void
check(int cond)
{
	if (!cond)
		abort();
}

static json_t *
parse_object(const char *text)
{
	json_t	   *o;

	check(text != NULL);
	o = json_loads(text, 0, NULL);
	check(json_is_object(o));
	return o;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	Request		req;
	char	   *text;
	json_t	   *o;
	int			i;

	if (frame_parse((const char *) data, size, &req))
	{
		json_t	   *id = json_loads(req.id, JSON_DECODE_ANY, NULL);

		check(req.spec != NULL && id != NULL);
		json_decref(id);
		for (i = 0; i < req.spec->nargs; i++)
			check(!req.spec->args[i].required || req.values[i] != NULL);
		text = frame_result(&req, "null");
		o = parse_object(text);
		check(strcmp(json_string_value(json_object_get(o, "type")), "result") == 0);
		json_decref(o);
		free(text);
		request_free(&req);
	}
	else
	{
		check(req.spec == NULL && req.sqlstate != NULL && strlen(req.sqlstate) == 5);
		check(req.message[0] != '\0');
		for (i = 0; i < MAX_ARGS; i++)
			check(req.values[i] == NULL);
		text = frame_error(req.id, NULL, req.sqlstate, req.message, NULL);
		o = parse_object(text);
		check(strcmp(json_string_value(json_object_get(o, "sqlstate")), req.sqlstate) == 0);
		json_decref(o);
		free(text);
	}

	text = frame_event((const char *) data, size);
	if (text != NULL)
	{
		json_t	   *ev;

		o = parse_object(text);
		ev = json_object_get(o, "event");
		check(json_is_object(ev) && json_object_size(ev) == 5);
		json_decref(o);
		free(text);
	}

	{
		char	   *s = malloc(size + 1);
		int64_t		when;

		check(s != NULL);
		memcpy(s, data, size);
		s[size] = '\0';
		(void) token_expiry(s, &when);
		free(s);
	}
	return 0;
}
