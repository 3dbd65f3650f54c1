// The HTTP endpoint (server/http/http_api.cpp, and through it admin_api and http_util) served over a real local
// TCP connection, spoken to with Beast's client side: /blocklist.xml with its ETag and If-None-Match, /metrics,
// the admin API's bearer token, unknown resources, malformed and oversized requests, keep-alive. The services
// behind it are real: a SQLite store, the blocklist service, a router with a one-policy chain.
#include <doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "antispim/blocklist.hpp"
#include "server/http/http_api.hpp"
#include "server/http/http_util.hpp"
#include "server/stream/certificate.hpp"
#include "tests/unit/server/pipeline/router_fixture.hpp"
#include "tests/unit/test_support.hpp"

using namespace hush;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using test::run_sync;

namespace {

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view good_token = "s3cret-token";

config make_config(const test::temp_dir& dir) {
    config c;
    c.hosts = {"example.org"};
    c.storage = test::sqlite_options(dir.path());
    return c;
}

request make_request(http::verb method, std::string target, std::string authorization = {}, std::string body = {}) {
    request req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!authorization.empty()) {
        req.set(http::field::authorization, authorization);
    }
    if (!body.empty()) {
        req.set(http::field::content_type, "application/json");
        req.body() = std::move(body);
    }
    req.prepare_payload();
    return req;
}

request get(std::string target) { return make_request(http::verb::get, std::move(target)); }

request admin(http::verb method, std::string target, std::string body = {}) {
    return make_request(method, std::move(target), "Bearer " + std::string(good_token), std::move(body));
}

// The "error" member of a JSON error body, or "" when the body is not one.
std::string error_message(const response& res) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(res.body(), ec);
    if (ec || !v.is_object() || !v.as_object().contains("error")) {
        return {};
    }
    return std::string(v.as_object().at("error").as_string());
}

// What one connection saw.
struct outcome {
    std::vector<response> responses;
    bool client_done = false;    // every response arrived and the connection ended within the deadline
    bool server_closed = false;  // the read after the last response got EOF from the server
    bool server_done = false;    // serve() returned
};

// The whole server as http_api sees it, on a real SQLite store.
struct http_world {
    http_world() {
        auto put = [digest = http_util::sha256_hex(good_token)](storage::store& s) {
            return s.put_admin_token("ops", digest, 0);
        };
        REQUIRE(run_sync(store.run(std::move(put))));
    }

    // Stores `e` as a local entry and reloads the blocklist.
    void add_entry(storage::blocklist_entry e) {
        REQUIRE(run_sync(store.run([e](storage::store& s) { return s.put_blocklist_entry(e); })));
        run_sync(blocklist.reload());
    }

    // One connection to serve(): writes `raw` (if any) and reads its response, then each of `requests` followed
    // by its response. Unless `expect_close`, the client then ends its side; either way it reads on until the
    // server closes. Gives up after 10 s.
    outcome exchange(std::vector<request> requests, std::string raw = {}, bool expect_close = false) {
        outcome out;
        asio::io_context io;
        tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
        tcp::socket client{io};
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                auto socket = co_await acceptor.async_accept(asio::use_awaitable);
                co_await api.serve(std::move(socket), false, nullptr);
                out.server_done = true;
            },
            asio::detached);
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                co_await client.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
                boost::beast::flat_buffer buffer;
                auto read_one = [&]() -> asio::awaitable<bool> {
                    response res;
                    auto [ec, n] = co_await http::async_read(client, buffer, res, tuple_awaitable);
                    if (ec) {
                        co_return false;
                    }
                    out.responses.push_back(std::move(res));
                    co_return true;
                };
                if (!raw.empty()) {
                    co_await asio::async_write(client, asio::buffer(raw), asio::use_awaitable);
                    if (!co_await read_one()) {
                        co_return;
                    }
                }
                for (auto& req : requests) {
                    co_await http::async_write(client, req, asio::use_awaitable);
                    if (!co_await read_one()) {
                        co_return;
                    }
                }
                if (!expect_close) {
                    client.shutdown(tcp::socket::shutdown_send);
                }
                char byte = 0;
                auto [ec, n] = co_await client.async_read_some(asio::buffer(&byte, 1), tuple_awaitable);
                out.server_closed = ec == asio::error::eof && buffer.size() == 0;
                out.client_done = true;
            },
            asio::detached);
        io.run_for(std::chrono::seconds(10));
        return out;
    }

    test::temp_dir dir;
    config cfg = make_config(dir);
    storage::async_store store{cfg.storage};
    blocklist_service blocklist{cfg.antispim, cfg.storage, "", store};
    certificate_files cert = ensure_self_signed(dir.path(), cfg.hosts);
    tls_context_provider tls{cert.certificate, cert.key, "1.2"};
    session_registry registry;
    router_testing::policy_log log;
    router_testing::fake_directory directory;
    server_handlers handlers{"test-version", {}};
    antispim::chain chain{router_testing::one_policy(antispim::verdict::pass(), &log)};
    router routes{cfg.hosts, registry, directory, chain, handlers, {}};
    auth_throttle throttle{5};
    connection_tracker connections{16};
    server_context ctx{cfg, registry, routes, store, tls, throttle, connections, "server-secret", "", nullptr, nullptr};
    recent_verdicts verdicts;
    http_api api{ctx, blocklist, chain, verdicts, {}};
};

storage::blocklist_entry entry(std::string kind, std::string value, std::string source, std::int64_t added) {
    storage::blocklist_entry e;
    e.kind = std::move(kind);
    e.value = std::move(value);
    e.reason = "spam";
    e.source = std::move(source);
    e.added_at = added;
    return e;
}

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

}  // namespace

TEST_CASE("GET /blocklist.xml: 200 with an ETag; If-None-Match with it 304, with another 200") {
    http_world w;
    w.add_entry(entry("domain", "spam.test", "admin:ops", 1'700'000'000));
    request conditional = get("/blocklist.xml");
    const auto first = w.exchange({get("/blocklist.xml")});
    REQUIRE(first.responses.size() == 1);
    const response& ok = first.responses[0];
    CHECK(ok.result() == http::status::ok);
    CHECK(ok[http::field::content_type] == "application/xml; charset=utf-8");
    CHECK(contains(ok.body(), "<blocklist xmlns='urn:hush:blocklist:0' server='example.org'>"));
    CHECK(contains(ok.body(), "<entry type='domain' value='spam.test' reason='spam' source='admin:ops'"));
    CHECK(ok[http::field::last_modified] == "Tue, 14 Nov 2023 22:13:20 GMT");  // the newest entry's time
    const std::string etag(ok[http::field::etag]);
    REQUIRE(etag.size() == 34);  // a quoted 32-digit hash
    CHECK(etag.front() == '"');
    CHECK(etag == w.api.blocklist_document().etag);

    conditional.set(http::field::if_none_match, etag);
    request stale = get("/blocklist.xml");
    stale.set(http::field::if_none_match, "\"0123456789abcdef0123456789abcdef\"");
    const auto again = w.exchange({conditional, stale});
    REQUIRE(again.responses.size() == 2);
    CHECK(again.responses[0].result() == http::status::not_modified);
    CHECK(again.responses[0].body().empty());
    CHECK(again.responses[0][http::field::etag] == etag);
    CHECK(again.responses[1].result() == http::status::ok);
    CHECK(again.responses[1].body() == ok.body());
}

TEST_CASE("blocklist_document: only the configured sources, JIDs hashed when asked, the ETag follows the content") {
    http_world w;
    const auto empty = w.api.blocklist_document();
    CHECK(empty.last_modified == "Thu, 01 Jan 1970 00:00:00 GMT");
    w.add_entry(entry("jid", "spammer@spam.test", "user consensus", 100));
    w.add_entry(entry("domain", "flood.test", "dos detector", 200));
    w.add_entry(entry("domain", "imported.test", "import:https://lists.test/x.xml", 300));  // "imports": not by default
    const auto doc = w.api.blocklist_document();
    CHECK(doc.etag != empty.etag);
    CHECK(contains(doc.body, "value='spammer@spam.test'"));
    CHECK(contains(doc.body, "value='flood.test'"));
    CHECK_FALSE(contains(doc.body, "imported.test"));
    CHECK(doc.last_modified == http_util::http_date(200));  // the newest published entry

    w.cfg.antispim.publish.hash_jids = true;
    w.cfg.antispim.publish.sources = {"consensus", "imports"};
    const auto hashed = w.api.blocklist_document();
    const std::string digest = antispim::jid_sha256(*jid::parse("spammer@spam.test"));
    CHECK(contains(hashed.body, "<entry type='jid-sha256' value='" + digest + "'"));
    CHECK_FALSE(contains(hashed.body, "spammer@spam.test"));
    CHECK_FALSE(contains(hashed.body, "flood.test"));
    CHECK(contains(hashed.body, "imported.test"));
    CHECK(hashed.etag != doc.etag);
}

TEST_CASE("blocklist_document: each entry says what it rests on; a greylisted range says it is one") {
    http_world w;
    w.add_entry(entry("jid", "lone@big.test", "dos detector", 100));
    w.add_entry(entry("domain", "farm.test", "dos detector", 100));
    auto range = entry("ip", "192.0.2.0/24", "dos detector", 100);
    range.trust = "greylist";
    w.add_entry(range);
    w.add_entry(entry("jid", "victim@big.test", "user consensus", 100));
    w.add_entry(entry("domain", "spam.test", "admin:ops", 100));
    const auto doc = w.api.blocklist_document();
    CHECK(contains(doc.body, "value='lone@big.test' reason='spam' source='dos detector' evidence='reach' added="));
    CHECK(contains(doc.body, "value='farm.test' reason='spam' source='dos detector' evidence='challenges' added="));
    CHECK(contains(doc.body, "value='192.0.2.0/24' reason='spam' source='dos detector' evidence='challenges' "
                             "added='1970-01-01T00:01:40Z' trust='greylist'/>"));
    CHECK(contains(doc.body, "value='victim@big.test' reason='spam' source='user consensus' evidence='consensus'"));
    CHECK(contains(doc.body, "value='spam.test' reason='spam' source='admin:ops' evidence='admin'"));
    CHECK_FALSE(contains(doc.body, "trust='block'"));  // blocking is what an entry does unless it says otherwise
}

TEST_CASE("GET /metrics: 200 Prometheus text with the known counters and gauges") {
    http_world w;
    w.add_entry(entry("domain", "spam.test", "admin", 1));
    const auto out = w.exchange({get("/metrics")});
    REQUIRE(out.responses.size() == 1);
    const response& res = out.responses[0];
    CHECK(res.result() == http::status::ok);
    CHECK(res[http::field::content_type] == "text/plain; version=0.0.4");
    CHECK(contains(res.body(), "# TYPE hush_antispim_verdicts_total counter\n"));
    CHECK(contains(res.body(), "hush_antispim_verdicts_total{policy=\"fixed\",verdict=\"pass\",mode=\"enforced\"} 0\n"));
    CHECK(contains(res.body(), "hush_antispim_policy_failures_total{policy=\"fixed\"} 0\n"));
    CHECK(contains(res.body(), "hush_antispim_held_requests 0\n"));  // read from storage: not the -1 of a failure
    CHECK(contains(res.body(), "hush_sessions 0\n"));
    CHECK(contains(res.body(), "hush_s2s_outgoing_streams 0\n"));
    CHECK(contains(res.body(), "hush_blocklist_entries 1\n"));
    // Not wired in this world: no consensus, outbound or eviction counters.
    CHECK_FALSE(contains(res.body(), "hush_antispim_consensus_total"));
    CHECK_FALSE(contains(res.body(), "hush_antispim_state_evictions_total"));
    CHECK(w.api.metrics_text(7).find("hush_antispim_held_requests 7\n") != std::string::npos);
}

TEST_CASE("the admin API: 401 with a message without a token, with a wrong one or another scheme; 200 with it") {
    http_world w;
    const auto out = w.exchange({get("/api/blocklist"),
                                 make_request(http::verb::get, "/api/blocklist", "Bearer wrong-token"),
                                 make_request(http::verb::get, "/api/blocklist", std::string(good_token)),
                                 make_request(http::verb::get, "/api/blocklist", "Basic b3BzOnNlY3JldA=="),
                                 admin(http::verb::get, "/api/blocklist")});
    REQUIRE(out.responses.size() == 5);
    for (std::size_t i = 0; i < 4; ++i) {
        CAPTURE(i);
        const response& refused = out.responses[i];
        CHECK(refused.result() == http::status::unauthorized);
        CHECK(refused[http::field::www_authenticate] == "Bearer realm=\"hush\"");
        CHECK(error_message(refused) == "a valid bearer token is required");
    }
    CHECK(out.responses[4].result() == http::status::ok);
    CHECK(out.responses[4][http::field::content_type] == "application/json");
    CHECK(out.responses[4].body() == "[]");
}

TEST_CASE("the admin API with a token: add, list, publish and remove an entry; bad input 400; unknown 404/405") {
    http_world w;
    const auto before = w.api.blocklist_document().etag;
    const auto out = w.exchange({
        admin(http::verb::post, "/api/blocklist", "{\"kind\":\"domain\",\"value\":\"Spam.Test\",\"reason\":\"junk\"}"),
        admin(http::verb::get, "/api/blocklist"),
        get("/blocklist.xml"),
        admin(http::verb::post, "/api/blocklist", "not json"),
        admin(http::verb::post, "/api/blocklist", "{\"kind\":\"domain\",\"value\":\"a.test\",\"expires_hours\":-1}"),
        admin(http::verb::get, "/api/nothing-here"),
        admin(http::verb::put, "/api/blocklist"),
        admin(http::verb::delete_, "/api/blocklist/domain/spam.test"),
        admin(http::verb::delete_, "/api/blocklist/domain/spam.test"),
    });
    REQUIRE(out.responses.size() == 9);
    CHECK(out.responses[0].result() == http::status::created);
    const auto added = boost::json::parse(out.responses[0].body()).as_object();
    CHECK(added.at("value").as_string() == "spam.test");  // normalized
    CHECK(added.at("source").as_string() == "admin:ops");  // the token's name
    CHECK(added.at("reason").as_string() == "junk");
    CHECK(added.at("expires").is_null());

    const auto listed = boost::json::parse(out.responses[1].body()).as_array();
    REQUIRE(listed.size() == 1);
    CHECK(listed[0].as_object().at("value").as_string() == "spam.test");
    CHECK(contains(out.responses[2].body(), "value='spam.test' reason='junk' source='admin:ops'"));
    CHECK(out.responses[2][http::field::etag] != before);

    CHECK(out.responses[3].result() == http::status::bad_request);
    CHECK(error_message(out.responses[3]) == "expected a JSON object");
    CHECK(out.responses[4].result() == http::status::bad_request);
    CHECK(error_message(out.responses[4]) == "expires_hours must be a positive integer");
    CHECK(out.responses[5].result() == http::status::not_found);
    CHECK(out.responses[6].result() == http::status::method_not_allowed);
    CHECK(out.responses[7].result() == http::status::no_content);
    CHECK(out.responses[8].result() == http::status::not_found);
    CHECK(error_message(out.responses[8]) == "no entry domain spam.test");
    CHECK(w.blocklist.local_entries().empty());
}

TEST_CASE("unknown paths 404, other methods on the public documents 405, each with a JSON message") {
    http_world w;
    const auto out = w.exchange({get("/nope"), get("/blocklist.xml/extra"),
                                 make_request(http::verb::post, "/metrics"),
                                 make_request(http::verb::delete_, "/blocklist.xml"),
                                 make_request(http::verb::post, "/admin")});
    REQUIRE(out.responses.size() == 5);
    CHECK(out.responses[0].result() == http::status::not_found);
    CHECK(error_message(out.responses[0]) == "no such resource");
    CHECK(out.responses[0][http::field::content_type] == "application/json");
    CHECK(out.responses[1].result() == http::status::not_found);
    for (std::size_t i = 2; i < 5; ++i) {
        CAPTURE(i);
        CHECK(out.responses[i].result() == http::status::method_not_allowed);
        CHECK(error_message(out.responses[i]) == "only GET here");
    }
}

TEST_CASE("a malformed request: 400 with a message, then the server closes the connection") {
    http_world w;
    const auto out = w.exchange({}, "NOT HTTP AT ALL\r\n\r\n", true);
    REQUIRE(out.responses.size() == 1);
    CHECK(out.responses[0].result() == http::status::bad_request);
    CHECK(error_message(out.responses[0]).starts_with("bad request: "));
    CHECK_FALSE(out.responses[0].keep_alive());
    CHECK(out.server_closed);
    CHECK(out.server_done);
}

TEST_CASE("a body or header over the limit: 413 or 431 with a message, then the server closes the connection") {
    http_world w;
    SUBCASE("a body over 64 KiB (refused from its Content-Length, before it is sent)") {
        const std::string raw = "POST /api/blocklist HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n";
        const auto out = w.exchange({}, raw, true);
        REQUIRE(out.responses.size() == 1);
        CHECK(out.responses[0].result() == http::status::payload_too_large);
        CHECK(error_message(out.responses[0]).starts_with("bad request: "));
        CHECK(out.server_closed);
    }
    SUBCASE("a header over 8 KiB") {
        const std::string raw = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Filler: " + std::string(9000, 'a') + "\r\n\r\n";
        const auto out = w.exchange({}, raw, true);
        REQUIRE(out.responses.size() == 1);
        CHECK(out.responses[0].result() == http::status::request_header_fields_too_large);  // RFC 6585 §5
        CHECK(out.server_closed);
    }
    SUBCASE("a body of exactly 64 KiB is read and judged on its content") {
        request big = admin(http::verb::post, "/api/blocklist", std::string(64 * 1024, ' '));
        const auto out = w.exchange({big});
        REQUIRE(out.responses.size() == 1);
        CHECK(out.responses[0].result() == http::status::bad_request);
        CHECK(error_message(out.responses[0]) == "expected a JSON object");
    }
}

TEST_CASE("keep-alive: several requests on one connection; Connection: close ends it after the response") {
    http_world w;
    SUBCASE("kept open until the client closes") {
        const auto out = w.exchange({get("/metrics"), get("/nope"), get("/blocklist.xml")});
        REQUIRE(out.responses.size() == 3);
        CHECK(out.responses[0].result() == http::status::ok);
        CHECK(out.responses[0].keep_alive());
        CHECK(out.responses[1].result() == http::status::not_found);
        CHECK(out.responses[1].keep_alive());
        CHECK(out.responses[2].result() == http::status::ok);
        CHECK(out.client_done);
        CHECK(out.server_done);  // serve() returned once the client ended its side
    }
    SUBCASE("Connection: close") {
        request last = get("/metrics");
        last.keep_alive(false);
        const auto out = w.exchange({get("/nope"), last}, {}, true);
        REQUIRE(out.responses.size() == 2);
        CHECK(out.responses[0].keep_alive());
        CHECK(out.responses[1].result() == http::status::ok);
        CHECK_FALSE(out.responses[1].keep_alive());
        CHECK(out.server_closed);  // the client never ended its side
        CHECK(out.server_done);
    }
}

// RFC 9110 §8.6: a server MUST NOT send Content-Length in a 204, nor in a 304 unless it equals the length a 200
// would have had (a cache refreshing its stored headers from the 304 could take a 0).
TEST_CASE("a 304 and a 204 carry no Content-Length (RFC 9110 §8.6)") {
    http_world w;
    w.add_entry(entry("domain", "spam.test", "admin", 1));
    request conditional = get("/blocklist.xml");
    conditional.set(http::field::if_none_match, w.api.blocklist_document().etag);
    const auto out = w.exchange({conditional, admin(http::verb::delete_, "/api/blocklist/domain/spam.test")});
    REQUIRE(out.responses.size() == 2);
    REQUIRE(out.responses[0].result() == http::status::not_modified);
    REQUIRE(out.responses[1].result() == http::status::no_content);
    CHECK(out.responses[0].count(http::field::content_length) == 0);
    CHECK(out.responses[1].count(http::field::content_length) == 0);
}

// RFC 9110 §13.1.2: If-None-Match is a list of entity tags compared weakly, or "*": a client or proxy that sends
// W/"etag" (nginx does, once it compresses) or several tags gets its 304.
TEST_CASE("If-None-Match: a weak tag or a list holding the ETag gives 304") {
    http_world w;
    const std::string etag = w.api.blocklist_document().etag;
    request weak = get("/blocklist.xml");
    weak.set(http::field::if_none_match, "W/" + etag);
    request list = get("/blocklist.xml");
    list.set(http::field::if_none_match, "\"0123456789abcdef0123456789abcdef\", " + etag);
    const auto out = w.exchange({weak, list});
    REQUIRE(out.responses.size() == 2);
    CHECK(out.responses[0].result() == http::status::not_modified);
    CHECK(out.responses[1].result() == http::status::not_modified);
}

TEST_CASE("etag_matches: lists, weak tags, '*', and nothing else") {
    using hush::http_util::etag_matches;
    const std::string_view etag = "\"abc\"";
    CHECK(etag_matches("\"abc\"", etag));
    CHECK(etag_matches("W/\"abc\"", etag));
    CHECK(etag_matches(" \"x\" ,\t\"abc\" ", etag));
    CHECK(etag_matches("*", etag));
    CHECK_FALSE(etag_matches("", etag));
    CHECK_FALSE(etag_matches("\"abcd\", W/\"ab\"", etag));
    CHECK_FALSE(etag_matches("abc", etag));  // unquoted: not the same opaque tag
    CHECK_FALSE(etag_matches(",,", etag));
}
