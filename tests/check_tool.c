/*
 * check_tool.c - unit tests of the shared tool code (tools/tool.c):
 * JSON -> msgpack -> JSON round trips, the strict parser's refusals,
 * value rendering (msgpack, text, base64), time and number parsing.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <msgpack.h>

#include "logd.h"
#include "../tools/tool.h"

/* JSON text -> msgpack -> JSON text, into out. */
static int roundtrip(const char *in, struct tool_buf *out)
{
	msgpack_sbuffer sb;
	char err[128];
	int rc;

	msgpack_sbuffer_init(&sb);
	rc = tool_json_to_msgpack(in, strlen(in), &sb, err, sizeof(err));
	if (rc == 0)
		rc = tool_msgpack_to_json(out, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

START_TEST(test_json_roundtrip)
{
	static const char *const same[] = {
		"{\"sensor_id\":\"ws_cairo_001\",\"city\":\"Cairo\","
		    "\"temperature\":25.5,\"humidity\":40,\"ok\":true,"
		    "\"x\":null}",
		"[1,-2,3.25,\"a\",[],{}]",
		"{\"n\":-9223372036854775808,\"u\":18446744073709551615}",
		"{\"f\":1.0,\"g\":1e+300,\"h\":-0.001}",
		"\"\\u00e9\\n\\t\\\"\\\\\"",
		"[[[[[[1]]]]]]",
		"{\"a\":{\"b\":{\"c\":[true,false]}}}",
	};
	size_t i;

	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		struct tool_buf b = TOOL_BUF_INIT;

		ck_assert_int_eq(roundtrip(same[i], &b), 0);
		/* "\u00e9" comes back as the UTF-8 character itself */
		if (i == 4)
			ck_assert_str_eq(b.data,
			    "\"\xc3\xa9\\n\\t\\\"\\\\\"");
		else
			ck_assert_str_eq(b.data, same[i]);
		tool_buf_free(&b);
	}
}
END_TEST

START_TEST(test_json_whitespace_and_types)
{
	struct tool_buf b = TOOL_BUF_INIT;
	msgpack_sbuffer sb;

	ck_assert_int_eq(roundtrip(" {\n\"a\" : [ 1 , 2 ] }\r\n", &b), 0);
	ck_assert_str_eq(b.data, "{\"a\":[1,2]}");
	tool_buf_reset(&b);
	/* a surrogate pair becomes one 4-byte character */
	ck_assert_int_eq(roundtrip("\"\\ud83d\\ude00\"", &b), 0);
	ck_assert_str_eq(b.data, "\"\xf0\x9f\x98\x80\"");
	tool_buf_free(&b);

	/* canonical msgpack: {"a":1} is fixmap, fixstr, fixint */
	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(tool_json_to_msgpack("{\"a\":1}", 7, &sb, NULL, 0),
	    0);
	ck_assert_uint_eq(sb.size, 4);
	ck_assert_int_eq(memcmp(sb.data, "\x81\xa1" "a\x01", 4), 0);
	msgpack_sbuffer_destroy(&sb);

	ck_assert_int_eq(tool_json_type("  {}", 4), 'o');
	ck_assert_int_eq(tool_json_type("[", 1), 'a');
	ck_assert_int_eq(tool_json_type("-1", 2), 'n');
	ck_assert_int_eq(tool_json_type("  ", 2), 0);
}
END_TEST

START_TEST(test_json_refused)
{
	static const char *const bad[] = {
		"", " ", "{", "}", "[1,]", "{\"a\":1,}", "{'a':1}", "{a:1}",
		"[01]", "[1.]", "[.5]", "[1e]", "[+1]", "NaN", "[Infinity]",
		"tru", "nul", "\"abc", "\"\\x\"", "\"\\ud800\"",
		"\"\\udc00\"", "\"\\ud800\\u0041\"", "\"a\tb\"", "{} {}",
		"[1] x", "// c\n1", "[1e999]", "\"\xc0\xaf\"",
		"\"\xed\xa0\x80\"", "{\"a\" 1}", "[1 2]",
	};
	char err[128];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msgpack_sbuffer sb;

		msgpack_sbuffer_init(&sb);
		err[0] = '\0';
		ck_assert_msg(tool_json_to_msgpack(bad[i], strlen(bad[i]), &sb,
		    err, sizeof(err)) == -EINVAL, "accepted %s", bad[i]);
		ck_assert_uint_eq(sb.size, 0);
		ck_assert_msg(strncmp(err, "line ", 5) == 0, "no position: %s",
		    err);
		msgpack_sbuffer_destroy(&sb);
		ck_assert_int_eq(tool_json_check(bad[i], strlen(bad[i]),
		    NULL, 0), -EINVAL);
	}
	ck_assert_int_eq(tool_json_check("{\n  \"a\": x}", 11, err,
	    sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "line 2, column 8: unexpected character");
}
END_TEST

START_TEST(test_json_depth)
{
	char deep[200];
	int i;

	for (i = 0; i < 65; i++)
		deep[i] = '[';
	for (i = 0; i < 65; i++)
		deep[65 + i] = ']';
	ck_assert_int_eq(tool_json_check(deep, 130, NULL, 0), -EINVAL);
	ck_assert_int_eq(tool_json_check(deep + 1, 128, NULL, 0), 0);
}
END_TEST

START_TEST(test_value_render)
{
	struct tool_buf b = TOOL_BUF_INIT;
	enum tool_value_kind k;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	/* text that happens to start with a msgpack fixint byte */
	ck_assert_int_eq(tool_value_to_json(&b, "hello", 5, &k), 0);
	ck_assert_int_eq(k, TOOL_VALUE_STRING);
	ck_assert_str_eq(b.data, "\"hello\"");
	tool_buf_reset(&b);

	ck_assert_int_eq(tool_value_to_json(&b, "\xff\x00\x01", 3, &k), 0);
	ck_assert_int_eq(k, TOOL_VALUE_BASE64);
	ck_assert_str_eq(b.data, "\"/wAB\"");
	tool_buf_reset(&b);

	ck_assert_int_eq(tool_value_to_json(&b, NULL, 0, &k), 0);
	ck_assert_int_eq(k, TOOL_VALUE_NULL);
	ck_assert_str_eq(b.data, "null");
	tool_buf_reset(&b);

	/* a map with a bin, a float32 and an int key */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str_with_body(&pk, "b", 1);
	msgpack_pack_bin_with_body(&pk, "ab", 2);
	msgpack_pack_str_with_body(&pk, "f", 1);
	msgpack_pack_float(&pk, 0.1f);
	msgpack_pack_int(&pk, 7);
	msgpack_pack_str_with_body(&pk, "\x01", 1);
	ck_assert_int_eq(tool_value_to_json(&b, sb.data, sb.size, &k), 0);
	ck_assert_int_eq(k, TOOL_VALUE_MSGPACK);
	ck_assert_str_eq(b.data, "{\"b\":\"YWI=\",\"f\":0.1,\"7\":\"\\u0001\"}");
	tool_buf_reset(&b);

	/* a map with trailing bytes is not msgpack: rendered as base64 */
	msgpack_pack_nil(&pk);
	ck_assert_int_eq(tool_is_msgpack_container(sb.data, sb.size), 0);
	ck_assert_int_eq(tool_msgpack_to_json(&b, sb.data, sb.size), -EINVAL);
	ck_assert_uint_eq(b.len, 0);
	msgpack_sbuffer_destroy(&sb);

	ck_assert_int_eq(tool_base64(&b, "abcd", 4), 0);
	ck_assert_str_eq(b.data, "YWJjZA==");
	tool_buf_reset(&b);
	ck_assert_int_eq(tool_json_string(&b, "a\"\\\n\x7f\xe2\x82", 7), 0);
	ck_assert_str_eq(b.data, "\"a\\\"\\\\\\n\\u007f\xef\xbf\xbd\xef\xbf\xbd\"");
	tool_buf_free(&b);
	ck_assert_int_eq(tool_utf8_valid("\xe2\x82\xac", 3), 1);
	ck_assert_int_eq(tool_utf8_valid("\xe2\x82", 2), 0);
	ck_assert_int_eq(tool_utf8_valid("\xf4\x90\x80\x80", 4), 0);
}
END_TEST

static int b64val(char c)
{
	const char *tab =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = strchr(tab, c);

	return p != NULL && c != '\0' ? (int)(p - tab) : -1;
}

START_TEST(test_base64_lengths)
{
	unsigned char in[600], out[600];
	size_t n, i, k;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 37 + 11);
	for (n = 0; n < sizeof(in); n++) {
		struct tool_buf b = TOOL_BUF_INIT;

		ck_assert_int_eq(tool_base64(&b, in, n), 0);
		ck_assert_uint_eq(b.len, (n + 2) / 3 * 4);
		/* decode and compare */
		for (i = 0, k = 0; i < b.len; i += 4) {
			int v0 = b64val(b.data[i]), v1 = b64val(b.data[i + 1]);
			int v2 = b64val(b.data[i + 2]), v3 = b64val(b.data[i + 3]);

			ck_assert(v0 >= 0 && v1 >= 0);
			out[k++] = (unsigned char)(v0 << 2 | v1 >> 4);
			if (b.data[i + 2] != '=')
				out[k++] = (unsigned char)(v1 << 4 | v2 >> 2);
			if (b.data[i + 3] != '=')
				out[k++] = (unsigned char)(v2 << 6 | v3);
		}
		ck_assert_uint_eq(k, n);
		ck_assert_int_eq(memcmp(in, out, n), 0);
		tool_buf_free(&b);
	}
}
END_TEST

START_TEST(test_time_parse)
{
	const int64_t now = 1764064800000; /* 2025-11-25T10:00:00Z */
	int64_t t = 0;
	char buf[40];

	ck_assert_int_eq(tool_parse_time("2026-11-25T10:00:00Z", now, &t), 0);
	ck_assert_int_eq(t, 1795600800000);
	ck_assert_int_eq(tool_parse_time("2026-11-25T10:00", now, &t), 0);
	ck_assert_int_eq(t, 1795600800000);
	ck_assert_int_eq(tool_parse_time("2026-11-25 10:00:01.5", now, &t), 0);
	ck_assert_int_eq(t, 1795600801500);
	ck_assert_int_eq(tool_parse_time("1970-01-01", now, &t), 0);
	ck_assert_int_eq(t, 0);
	ck_assert_int_eq(tool_parse_time("2024-02-29T23:59:59.999Z", now, &t),
	    0);
	ck_assert_int_eq(t, 1709251199999);
	ck_assert_int_eq(tool_parse_time("-10m", now, &t), 0);
	ck_assert_int_eq(t, now - 600000);
	ck_assert_int_eq(tool_parse_time("-2h", now, &t), 0);
	ck_assert_int_eq(t, now - 7200000);
	ck_assert_int_eq(tool_parse_time("-1d", now, &t), 0);
	ck_assert_int_eq(t, now - 86400000);
	ck_assert_int_eq(tool_parse_time("-30s", now, &t), 0);
	ck_assert_int_eq(t, now - 30000);
	ck_assert_int_eq(tool_parse_time("-250ms", now, &t), 0);
	ck_assert_int_eq(t, now - 250);
	ck_assert_int_eq(tool_parse_time("now", now, &t), 0);
	ck_assert_int_eq(t, now);

	t = 42;
	ck_assert_int_eq(tool_parse_time("2026-13-01", now, &t), -EINVAL);
	ck_assert_int_eq(tool_parse_time("2025-02-29", now, &t), -EINVAL);
	ck_assert_int_eq(tool_parse_time("2026-11-25T24:00", now, &t), -EINVAL);
	ck_assert_int_eq(tool_parse_time("2026-11-25T10", now, &t), -EINVAL);
	ck_assert_int_eq(tool_parse_time("2026-11-25T10:00+02:00", now, &t),
	    -EINVAL);
	ck_assert_int_eq(tool_parse_time("yesterday", now, &t), -EINVAL);
	ck_assert_int_eq(tool_parse_time("-10", now, &t), -EINVAL);
	ck_assert_int_eq(tool_parse_time("-10y", now, &t), -EINVAL);
	ck_assert_int_eq(tool_parse_time("-m", now, &t), -EINVAL);
	ck_assert_int_eq(tool_parse_time("", now, &t), -EINVAL);
	ck_assert_int_eq(t, 42);

	tool_format_time(1795600801500, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2026-11-25T10:00:01.500Z");
	/* years 0000..9999 as dates, anything else as the number: -2^63
	 * once came out as year 292278994 */
	tool_format_time(INT64_MIN, buf, sizeof(buf));
	ck_assert_str_eq(buf, "-9223372036854775808");
	tool_format_time(INT64_MAX, buf, sizeof(buf));
	ck_assert_str_eq(buf, "9223372036854775807");
	tool_format_time(-1, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1969-12-31T23:59:59.999Z");
	tool_format_time(-62167219200000LL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "0000-01-01T00:00:00.000Z");
	tool_format_time(-62167219200001LL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "-62167219200001");
	tool_format_time(253402300799999LL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "9999-12-31T23:59:59.999Z");
	tool_format_time(253402300800000LL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "253402300800000");
}
END_TEST

START_TEST(test_numbers)
{
	int64_t v = 0;

	ck_assert_int_eq(tool_parse_i64("42", 0, 100, &v), 0);
	ck_assert_int_eq(v, 42);
	ck_assert_int_eq(tool_parse_i64("-5", -10, 10, &v), 0);
	ck_assert_int_eq(v, -5);
	ck_assert_int_eq(tool_parse_i64("101", 0, 100, &v), -ERANGE);
	ck_assert_int_eq(tool_parse_i64("99999999999999999999", 0, INT64_MAX,
	    &v), -ERANGE);
	ck_assert_int_eq(tool_parse_i64("4x", 0, 100, &v), -EINVAL);
	ck_assert_int_eq(tool_parse_i64("", 0, 100, &v), -EINVAL);
	ck_assert_int_eq(tool_parse_i64(" 4", 0, 100, &v), -EINVAL);
	ck_assert_int_eq(tool_parse_i64("+4", 0, 100, &v), -EINVAL);
	ck_assert_int_eq(v, -5);

	unsetenv("LOGD_BROKER");
	ck_assert_str_eq(tool_broker_addr(NULL), LOGD_DEFAULT_ADDR);
	setenv("LOGD_BROKER", "/tmp/x.sock", 1);
	ck_assert_str_eq(tool_broker_addr(NULL), "/tmp/x.sock");
	ck_assert_str_eq(tool_broker_addr("h:1"), "h:1");
	unsetenv("LOGD_BROKER");
}
END_TEST

static Suite *tool_suite(void)
{
	Suite *s = suite_create("tool");
	TCase *tc;

	tc = tcase_create("json_roundtrip");
	tcase_add_test(tc, test_json_roundtrip);
	tcase_add_test(tc, test_json_whitespace_and_types);
	suite_add_tcase(s, tc);
	tc = tcase_create("json_refused");
	tcase_add_test(tc, test_json_refused);
	tcase_add_test(tc, test_json_depth);
	suite_add_tcase(s, tc);
	tc = tcase_create("value_render");
	tcase_add_test(tc, test_value_render);
	tcase_add_test(tc, test_base64_lengths);
	suite_add_tcase(s, tc);
	tc = tcase_create("time");
	tcase_add_test(tc, test_time_parse);
	suite_add_tcase(s, tc);
	tc = tcase_create("numbers");
	tcase_add_test(tc, test_numbers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tool_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
