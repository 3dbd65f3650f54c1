#include "server/config/config.hpp"
#include "tests/unit/server/config/config_test_support.hpp"

#include <doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using hush::config;
using hush::load_config;
using hush::listener_config;
using hush::storage::store_options;
using namespace hush::config_testing;

namespace {

// The defaults documented in conf/hush.toml, for a config file living in `dir`.
void check_defaults(const config& c, const fs::path& dir) {
    CHECK(c.hosts == std::vector<std::string>{"localhost"});
    CHECK(c.data_dir == (dir / "../var").lexically_normal());
    CHECK(c.data_dir.is_absolute());
    CHECK(c.threads == 0);
    CHECK(c.log_level == "info");
    CHECK(c.tls.certificate.empty());
    CHECK(c.tls.key.empty());
    CHECK(c.tls.min_version == "1.2");
    REQUIRE(c.listeners.size() == 4);
    CHECK(c.listeners[0].type == listener_config::kind::c2s_starttls);
    CHECK(c.listeners[0].address == "127.0.0.1");
    CHECK(c.listeners[0].port == 5222);
    CHECK(c.listeners[1].type == listener_config::kind::c2s_direct_tls);
    CHECK(c.listeners[1].address == "127.0.0.1");
    CHECK(c.listeners[1].port == 5223);
    CHECK(c.listeners[2].type == listener_config::kind::s2s_starttls);
    CHECK(c.listeners[2].address == "127.0.0.1");
    CHECK(c.listeners[2].port == 5269);
    CHECK(c.listeners[3].type == listener_config::kind::http);
    CHECK(c.listeners[3].address == "127.0.0.1");
    CHECK(c.listeners[3].port == 5280);
    // [upload]: off with only a plain http listener (XEP-0363 wants HTTPS; `enabled = true` takes it anyway).
    CHECK_FALSE(c.upload.enabled);
    CHECK(c.upload.services.empty());
    CHECK(c.upload.directory == c.data_dir / "uploads");
    CHECK(c.upload.max_file_size == 104857600);
    CHECK(c.upload.quota_per_user == 1073741824);
    CHECK(c.upload.expire_after == std::chrono::seconds{604800});
    CHECK(c.upload.slot_timeout == std::chrono::seconds{300});
    CHECK(c.upload.allowed_content_types.empty());
    CHECK(c.upload.max_slots_per_minute == 30);
    CHECK(c.upload.max_pending_slots == 10);
    CHECK(c.upload.cors_origins == std::vector<std::string>{"*"});
    CHECK_FALSE(c.s2s.require_valid_certificates);
    CHECK(c.s2s.require_valid_certificate_for.empty());
    CHECK(c.s2s.ca_file.empty());
    CHECK(c.s2s.hosts.empty());
    CHECK(c.s2s.dns_servers.empty());
    CHECK(c.stream_management.enabled);
    CHECK(c.stream_management.resume_timeout == std::chrono::seconds{300});
    CHECK(c.stream_management.max_unacked == 500);
    CHECK(c.stream_management.max_unacked_bytes == 512 * 1024);
    CHECK(c.stream_management.ack_after_stanzas == 5);
    CHECK(c.stream_management.ack_after == std::chrono::seconds{3});
    CHECK(c.stream_management.ack_timeout == std::chrono::seconds{60});
    CHECK(c.stream_management.max_detached == 10000);
    CHECK(c.stream_management.max_detached_per_account == 10);
    CHECK(c.push.enabled);
    CHECK_FALSE(c.push.include_sender);
    CHECK_FALSE(c.push.include_body);
    CHECK(c.push.max_registrations == 5);
    CHECK(c.s2s.connect_timeout == std::chrono::seconds{30});
    CHECK(c.s2s.idle_timeout == std::chrono::seconds{300});
    CHECK(c.s2s.max_queued_stanzas == 1000);
    CHECK(c.s2s.retry_initial == std::chrono::seconds{5});
    CHECK(c.s2s.retry_max == std::chrono::seconds{300});
    CHECK(c.limits.max_stanza_bytes == 262144);
    CHECK(c.limits.max_depth == 32);
    CHECK(c.limits.max_connections_per_ip == 32);
    CHECK(c.limits.max_outbox_bytes == 1048576);
    CHECK(c.limits.handshake_timeout == std::chrono::seconds{60});
    CHECK(c.limits.idle_timeout == std::chrono::seconds{600});
    CHECK(c.limits.auth_failures_per_connection == 3);
    CHECK(c.limits.auth_failures_before_delay == 3);
    CHECK(c.sasl.scram_iterations == 4096);
    CHECK(c.sasl.allow_plain);
    CHECK(c.sasl.fast);
    CHECK(c.sasl.fast_token_lifetime == 30 * 24 * 3600);
    CHECK(c.sasl.fast_max_clients == 20);
    CHECK(c.storage.backend == store_options::backend_kind::sqlite);
    CHECK(c.storage.sqlite_path == (c.data_dir / "hush.db").string());
    CHECK(c.storage.postgres_url.empty());
    CHECK(c.storage.pool_size == 4);
    CHECK(c.storage.sqlite_readers == 2);
    CHECK(c.antispim.chain == std::vector<std::string>{"blocklist", "dos", "rate", "content", "challenge"});
    CHECK(c.antispim.content.spamd.empty());
    CHECK(c.antispim.content.spamd_timeout == std::chrono::milliseconds{3000});
    CHECK(c.antispim.content.spamd_fail == "pass");
    CHECK(c.antispim.content.spamd_connections == 4);
    CHECK(c.antispim.content.spamd_weight == 1.0);
    CHECK(c.antispim.content.bayes);
    CHECK(c.antispim.content.bayes_min_messages == 20);
    CHECK(c.antispim.content.bayes_max_tokens == 200000);
    CHECK(c.antispim.content.bayes_weight == 12.0);
    CHECK(c.antispim.content.url_lists.empty());
    CHECK(c.antispim.content.url_weight == 10.0);
    CHECK_FALSE(c.antispim.content.local_first_contacts);
    CHECK(c.antispim.score.challenge_at == 5.0);
    CHECK(c.antispim.score.hold_at == 10.0);
    CHECK(c.antispim.score.reject_at == 20.0);
    CHECK(c.antispim.score.listed == 3.0);
    CHECK(c.antispim.score.reputation == 3.0);
    CHECK(c.antispim.score.behaviour == 4.0);
    CHECK(c.antispim.score.new_account == 2.0);
    CHECK(c.antispim.score.rate == 4.0);
    CHECK(c.antispim.dos.distinct_receivers == 20);
    CHECK(c.antispim.dos.window == std::chrono::seconds{600});
    CHECK(c.antispim.dos.block_for == std::chrono::hours{24});
    CHECK(c.antispim.dos.evidence_senders == 3);
    CHECK(c.antispim.dos.evidence_window == std::chrono::seconds{3600});
    CHECK(c.antispim.challenge.kind == hush::antispim::challenge_kind::code);
    CHECK(c.s2s.source_addresses.empty());
    CHECK(c.antispim.dry_run.empty());
    CHECK(c.antispim.trust_local_users);
    CHECK(c.antispim.max_held_per_sender == 10);
    CHECK(c.antispim.held_expiry == std::chrono::hours{168});
    CHECK(c.antispim.trusted_after == std::chrono::hours{168});
    CHECK(c.antispim.trusted_min_contacts == 1);
    CHECK(c.antispim.max_held_per_receiver == 200);
    CHECK(c.antispim.max_held_bytes_per_receiver == 4 * 1024 * 1024);
    CHECK(c.antispim.max_held_total == 100000);
    CHECK(c.antispim.state_expiry == std::chrono::hours{24 * 90});
    CHECK(c.antispim.contact_expiry == std::chrono::hours{24 * 365});
    CHECK(c.antispim.sweep_interval == std::chrono::seconds{3600});
    CHECK(c.storage.max_queued == 10000);
    CHECK(c.storage.queue_timeout == std::chrono::seconds{10});
    CHECK(c.antispim.challenge == hush::antispim::challenge_settings{});
    CHECK(c.registration.mode == hush::registration_mode::closed);
    CHECK(c.registration.max_per_ip == 5);
    CHECK(c.registration.window == std::chrono::minutes{60});
    CHECK(c.registration.min_password_length == 8);
    CHECK(c.muc.enabled);
    CHECK(c.muc.services == std::vector<std::string>{"conference.localhost"});
    CHECK_FALSE(c.muc.room_creators_admins_only);
    CHECK(c.muc.max_rooms == 10000);
    CHECK(c.muc.max_rooms_per_owner == 100);
    CHECK(c.muc.max_rooms_per_user == 100);
    CHECK(c.muc.max_occupants == 200);
    CHECK(c.muc.max_occupants_limit == 1000);
    CHECK(c.muc.history_size == 20);
    CHECK(c.muc.flood_messages_per_minute == 30);
    CHECK(c.muc.flood_burst == 10);
    CHECK_FALSE(c.muc.new_occupants_visitors);
    CHECK(c.muc.visitor_period == std::chrono::seconds{300});
}

}  // namespace

TEST_CASE("the shipped conf/hush.toml loads and holds the documented defaults") {
    const fs::path path = fs::path(HUSH_SOURCE_DIR) / "conf" / "hush.toml";
    auto result = load_config(path);
    INFO((result ? std::string() : result.error()));
    REQUIRE(result.has_value());
    check_defaults(*result, path.parent_path());
    CHECK(result->source == path.lexically_normal());
    CHECK(result->data_dir == (fs::path(HUSH_SOURCE_DIR) / "var").lexically_normal());
}

TEST_CASE("an empty file gives the same defaults as the shipped one") {
    const config c = load_ok("");
    check_defaults(c, test_dir() / "conf");
    CHECK(c.source == test_dir() / "conf" / "ok.toml");
}

TEST_CASE("stream_management: values and errors with line and key") {
    const config c = load_ok("[stream_management]\nresume_timeout = 60\nmax_unacked = 50\nenabled = false\n");
    CHECK(c.stream_management.resume_timeout == std::chrono::seconds{60});
    CHECK(c.stream_management.max_unacked == 50);
    CHECK_FALSE(c.stream_management.enabled);
    CHECK(load_error("[stream_management]\nmax_unacked = 5\n").starts_with("2:15: stream_management.max_unacked: "));
    CHECK(load_error("[stream_management]\nresume = 5\n").starts_with("2:1: stream_management.resume: unknown key"));
    CHECK(load_error("[stream_management]\nmax_unacked_bytes = 1048576\n")
              .starts_with("2:21: stream_management.max_unacked_bytes: must be at most half of limits.max_outbox_bytes"));
    CHECK(load_error("[stream_management]\nmax_detached_per_account = 0\n")
              .starts_with("2:28: stream_management.max_detached_per_account: "));
    CHECK(load_ok("[stream_management]\nmax_detached_per_account = 3\n").stream_management.max_detached_per_account == 3);
    CHECK(load_ok("[push]\ninclude_body = true\n").push.include_body);
    CHECK(load_error("[push]\nmax_registrations = 0\n").starts_with("2:21: push.max_registrations: "));
}

TEST_CASE("a relative config path is made absolute") {
    write("rel", "");
    const fs::path old = fs::current_path();
    fs::current_path(test_dir());
    auto result = load_config("conf/../conf/rel.toml");
    fs::current_path(old);
    REQUIRE(result.has_value());
    CHECK(result->source == test_dir() / "conf" / "rel.toml");
    CHECK(result->data_dir == test_dir() / "var");
}

TEST_CASE("a missing file says it cannot be read") {
    const fs::path path = test_dir() / "conf" / "nope.toml";
    auto result = load_config(path);
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error() == path.string() + ": cannot read: No such file or directory");

    auto dir = load_config(test_dir());
    REQUIRE_FALSE(dir.has_value());
    CHECK(dir.error() == test_dir().string() + ": cannot read: Is a directory");
}

TEST_CASE("TOML syntax errors give file:line:col and toml++'s description") {
    const std::string e = load_error("[server]\nhosts = [\"a\",\n  \"b\"\nthreads = 2\n");
    CHECK(e.starts_with("4:1: "));
    CHECK(e.find("array") != std::string::npos);

    CHECK(load_error("[log]\nlevel = \"info\"\nlevel = \"debug\"\n").starts_with("3:"));
}

TEST_CASE("unknown keys and tables are errors") {
    CHECK(load_error("[limits]\nmax_depth = 8\nmax_stanza_byte = 4096\n") ==
          "3:1: limits.max_stanza_byte: unknown key (did you mean limits.max_stanza_bytes?)");
    CHECK(load_error("[server]\nthreads = 1\n\n[srever]\nhosts = []\n") ==
          "4:2: srever: unknown key (did you mean server?)");
    CHECK(load_error("verbose = true\n") == "1:1: verbose: unknown key");
    CHECK(load_error("[tls]\ncipher_list = \"HIGH\"\n") == "2:1: tls.cipher_list: unknown key");
    CHECK(load_error("[[listen]]\nport = 1\n[[listen]]\nport = 2\nbacklog = 5\n") ==
          "5:1: listen[1].backlog: unknown key");
    // Dotted keys and inline tables are the same tables.
    CHECK(load_error("limits.max_depht = 8\n") ==
          "1:8: limits.max_depht: unknown key (did you mean limits.max_depth?)");
    CHECK(load_error("sasl = { allow_plain = true, rounds = 5000 }\n") == "1:30: sasl.rounds: unknown key");
}

TEST_CASE("wrong types are errors") {
    CHECK(load_error("[server]\nthreads = \"4\"\n") == "2:11: server.threads: expected an integer, got a string");
    CHECK(load_error("[server]\nhosts = \"example.com\"\n") ==
          "2:9: server.hosts: expected an array of strings, got a string");
    CHECK(load_error("[server]\nhosts = [\"a\", 2]\n") == "2:15: server.hosts[1]: expected a string, got an integer");
    CHECK(load_error("[sasl]\nallow_plain = 1\n") ==
          "2:15: sasl.allow_plain: expected a boolean (true or false), got an integer");
    CHECK(load_error("[tls]\nmin_version = 1.3\n") ==
          "2:15: tls.min_version: expected a string, got a floating-point number");
    CHECK(load_error("[limits]\nidle_timeout = 1.5\n") ==
          "2:16: limits.idle_timeout: expected an integer, got a floating-point number");
    CHECK(load_error("server = 1\n") == "1:10: server: expected a table, got an integer");
    CHECK(load_error("[listen]\nport = 1\n") == "1:1: listen: expected an array of tables ([[listen]] sections)");
    CHECK(load_error("listen = []\n") == "1:10: listen: at least one listener is required");
    CHECK(load_error("[antispim]\nchain = [\"pass\", [\"x\"]]\n") ==
          "2:18: antispim.chain[1]: expected a string, got an array");
}

TEST_CASE("numbers out of range are errors") {
    CHECK(load_error("[[listen]]\nport = 5222\n[[listen]]\nport = 70000\n") ==
          "4:8: listen[1].port: must be between 0 and 65535 (got 70000)");
    CHECK(load_error("[[listen]]\nport = -1\n") == "2:8: listen[0].port: must be between 0 and 65535 (got -1)");
    CHECK(load_error("[limits]\nmax_stanza_bytes = 1023\n") ==
          "2:20: limits.max_stanza_bytes: must be between 1024 and 16777216 (got 1023)");
    CHECK(load_error("[limits]\nmax_stanza_bytes = 16777217\n").starts_with("2:20: limits.max_stanza_bytes: "));
    CHECK(load_error("[limits]\nmax_depth = 1\n") == "2:13: limits.max_depth: must be between 2 and 1000 (got 1)");
    CHECK(load_error("[limits]\nmax_depth = 1001\n").starts_with("2:13: limits.max_depth: "));
    CHECK(load_error("[limits]\nhandshake_timeout = 0\n")
              .starts_with("2:21: limits.handshake_timeout: must be between 1 "));
    CHECK(load_error("[limits]\nidle_timeout = -5\n").starts_with("2:16: limits.idle_timeout: "));
    CHECK(load_error("[sasl]\nscram_iterations = 4095\n") ==
          "2:20: sasl.scram_iterations: must be at least 4096 (got 4095)");
    CHECK(load_error("[server]\nthreads = -1\n").starts_with("2:11: server.threads: "));
    CHECK(load_error("[sasl]\nfast_token_lifetime = 10\n").starts_with("2:23: sasl.fast_token_lifetime: "));
    CHECK(load_error("[sasl]\nfast_max_clients = 0\n").starts_with("2:20: sasl.fast_max_clients: "));
    CHECK(load_error("[sasl]\nfast = 1\n").starts_with("2:8: sasl.fast: "));
    CHECK(load_ok("[sasl]\nfast = false\nfast_token_lifetime = 300\n").sasl.fast_token_lifetime == 300);

    const config c = load_ok(
        "[limits]\nmax_stanza_bytes = 16777216\nmax_depth = 1000\n[sasl]\nscram_iterations = 4096\n"
        "[[listen]]\nport = 0\n[[listen]]\nport = 65535\n");
    CHECK(c.limits.max_stanza_bytes == 16 * 1024 * 1024);
    CHECK(c.limits.max_depth == 1000);
    CHECK(c.listeners[0].port == 0);
    CHECK(c.listeners[1].port == 65535);
    CHECK(load_ok("[limits]\nmax_stanza_bytes = 1024\nmax_depth = 2\n").limits.max_depth == 2);
}

TEST_CASE("names that must be one of a set") {
    CHECK(load_error("[log]\nlevel = \"verbose\"\n") ==
          "2:9: log.level: must be one of \"trace\", \"debug\", \"info\", \"warn\", \"error\" (got \"verbose\")");
    CHECK(load_error("[tls]\nmin_version = \"1.1\"\n") ==
          "2:15: tls.min_version: must be one of \"1.2\", \"1.3\" (got \"1.1\")");
    CHECK(load_error("[[listen]]\nkind = \"xmpp\"\n") ==
          "2:8: listen[0].kind: must be one of \"c2s\", \"c2s_direct_tls\", \"s2s\", \"s2s_direct_tls\", \"http\", "
          "\"https\" (got "
          "\"xmpp\")");
    CHECK(load_error("[storage]\nbackend = \"mysql\"\n") ==
          "2:11: storage.backend: must be one of \"sqlite\", \"postgresql\" (got \"mysql\")");

    const config c = load_ok("[log]\nlevel = \"warn\"\n[tls]\nmin_version = \"1.3\"\n");
    CHECK(c.log_level == "warn");
    CHECK(c.tls.min_version == "1.3");
}

TEST_CASE("hosts: at least one, nameprepped, no duplicates") {
    CHECK(load_error("[server]\nhosts = []\n") == "2:9: server.hosts: at least one host is required");
    CHECK(load_error("[server]\nhosts = [\"example.com\",\n  \"Example.COM.\"]\n") ==
          "3:3: server.hosts[1]: duplicate host \"example.com\"");
    CHECK(load_error("[server]\nhosts = [\"\"]\n") == "2:10: server.hosts[0]: \"\" is not a valid domain name");
    CHECK(load_error("[server]\nhosts = [\"user@example.com\"]\n").starts_with("2:10: server.hosts[0]: "));

    const config c = load_ok("[server]\nhosts = [\"Example.COM\", \"chat.example.org.\"]\n");
    CHECK(c.hosts == std::vector<std::string>{"example.com", "chat.example.org"});
    CHECK(load_ok("[server]\nhosts = [\"B\u00DCCHER.example\"]\n").hosts.at(0) == "b\u00fccher.example");
}

TEST_CASE("listeners: defaults per kind, IP addresses, no duplicate address:port") {
    const config c = load_ok("[[listen]]\nkind = \"c2s_direct_tls\"\naddress = \"::\"\n");
    REQUIRE(c.listeners.size() == 1);
    CHECK(c.listeners[0].type == listener_config::kind::c2s_direct_tls);
    CHECK(c.listeners[0].address == "::");
    CHECK(c.listeners[0].port == 5223);
    CHECK(load_ok("[[listen]]\n").listeners.at(0).port == 5222);

    CHECK(load_error("[[listen]]\naddress = \"localhost\"\n") ==
          "2:11: listen[0].address: expected an IP address such as 127.0.0.1, ::1, 0.0.0.0 or :: (got \"localhost\")");
    CHECK(load_error("[[listen]]\nport = 5222\n\n[[listen]]\nkind = \"c2s_direct_tls\"\nport = 5222\n") ==
          "4:1: listen[1]: 127.0.0.1 port 5222 is already used by listen[0]");
    CHECK(load_error("[[listen]]\naddress = \"::1\"\n[[listen]]\naddress = \"0:0::1\"\n") ==
          "3:1: listen[1]: 0:0::1 port 5222 is already used by listen[0]");

    // Port 0 is a fresh ephemeral port each time; the same port on different addresses is fine too.
    CHECK(load_ok("[[listen]]\nport = 0\n[[listen]]\nport = 0\n").listeners.size() == 2);
    CHECK(load_ok("[[listen]]\naddress = \"127.0.0.1\"\n[[listen]]\naddress = \"::1\"\n").listeners.size() == 2);
}

TEST_CASE("relative paths resolve against the config file's directory, storage.path against data_dir") {
    const fs::path conf = test_dir() / "conf";
    config c = load_ok("[server]\ndata_dir = \"./data/../state\"\n"
                       "[tls]\ncertificate = \"tls/cert.pem\"\nkey = \"../k.pem\"\n"
                       "[storage]\npath = \"db/hush.sqlite\"\n");
    CHECK(c.data_dir == conf / "state");
    CHECK(c.tls.certificate == conf / "tls" / "cert.pem");
    CHECK(c.tls.key == test_dir() / "k.pem");
    CHECK(c.storage.sqlite_path == (conf / "state" / "db" / "hush.sqlite").string());

    c = load_ok("[server]\ndata_dir = \"/srv//hush/\"\n[storage]\npath = \"/var/lib/hush.db\"\n");
    CHECK(c.data_dir == "/srv/hush/");
    CHECK(c.storage.sqlite_path == "/var/lib/hush.db");
    CHECK(load_ok("[server]\ndata_dir = \"/srv/hush\"\n").storage.sqlite_path == "/srv/hush/hush.db");

    CHECK(load_error("[server]\ndata_dir = \"\"\n") == "2:12: server.data_dir: must not be empty");
    CHECK(load_error("[storage]\npath = \"\"\n") == "2:8: storage.path: must not be empty when backend = \"sqlite\"");
}

TEST_CASE("tls.certificate and tls.key go together") {
    CHECK(load_error("[tls]\ncertificate = \"cert.pem\"\n") ==
          "2:15: tls.certificate: is set but tls.key is not; set both or neither");
    CHECK(load_error("[tls]\ncertificate = \"\"\nkey = \"key.pem\"\n") ==
          "3:7: tls.key: is set but tls.certificate is not; set both or neither");
}

TEST_CASE("postgresql needs a url") {
    CHECK(load_error("[storage]\nbackend = \"postgresql\"\n") ==
          "2:11: storage.url: is required when backend = \"postgresql\"");
    CHECK(load_error("[storage]\nbackend = \"postgresql\"\nurl = \"\"\n") ==
          "3:7: storage.url: is required when backend = \"postgresql\"");

    const config c = load_ok("[storage]\nbackend = \"postgresql\"\nurl = \"postgresql://hush@127.0.0.1/hush\"\n"
                             "pool_size = 8\npath = \"\"\n");
    CHECK(c.storage.backend == store_options::backend_kind::postgresql);
    CHECK(c.storage.postgres_url == "postgresql://hush@127.0.0.1/hush");
    CHECK(c.storage.pool_size == 8);
    CHECK(load_error("[storage]\npool_size = 0\n").starts_with("2:13: storage.pool_size: must be between 1 "));
}

TEST_CASE("storage.sqlite_readers: 0 to 64 reader connections, errors at the key") {
    CHECK(load_ok("[storage]\nsqlite_readers = 0\n").storage.sqlite_readers == 0);
    CHECK(load_ok("[storage]\nsqlite_readers = 8\n").storage.sqlite_readers == 8);
    CHECK(load_error("[storage]\nsqlite_readers = -1\n").starts_with("2:18: storage.sqlite_readers: must be between 0 "));
    CHECK(load_error("[storage]\nsqlite_readers = 65\n").starts_with("2:18: storage.sqlite_readers: must be between 0 "));
    CHECK(load_error("[storage]\nsqlite_readers = \"two\"\n").starts_with("2:18: storage.sqlite_readers: "));
}

TEST_CASE("threads: 0 stays 0, other values are kept") {
    CHECK(load_ok("[server]\nthreads = 0\n").threads == 0);
    CHECK(load_ok("[server]\nthreads = 8\n").threads == 8);
}

TEST_CASE("of several errors, the earliest in the file is reported") {
    CHECK(load_error("[storage]\npool_size = 0\n[server]\nthreads = -1\n").starts_with("2:13: storage.pool_size: "));
    CHECK(load_error("[server]\nthreads = -1\n[storage]\npool_size = 0\n").starts_with("2:11: server.threads: "));
}

TEST_CASE("s2s listeners default to 5269 and 5270") {
    const config c = load_ok("[[listen]]\nkind = \"s2s\"\n[[listen]]\nkind = \"s2s_direct_tls\"\naddress = \"::\"\n");
    REQUIRE(c.listeners.size() == 2);
    CHECK(c.listeners[0].type == listener_config::kind::s2s_starttls);
    CHECK(c.listeners[0].port == 5269);
    CHECK(c.listeners[0].is_s2s());
    CHECK_FALSE(c.listeners[0].is_direct_tls());
    CHECK(c.listeners[1].type == listener_config::kind::s2s_direct_tls);
    CHECK(c.listeners[1].port == 5270);
    CHECK(c.listeners[1].is_direct_tls());
    // The address:port check spans kinds: a c2s and an s2s listener cannot share a port.
    CHECK(load_error("[[listen]]\nkind = \"c2s\"\nport = 5269\n[[listen]]\nkind = \"s2s\"\n") ==
          "4:1: listen[1]: 127.0.0.1 port 5269 is already used by listen[0]");
    CHECK(load_error("[[listen]]\nkind = \"s2s\"\naddress = \"::\"\nport = 5270\n[[listen]]\nkind = "
                     "\"s2s_direct_tls\"\naddress = \"0::0\"\n") ==
          "5:1: listen[1]: 0::0 port 5270 is already used by listen[0]");
}

TEST_CASE("s2s: every key, static hosts and per-domain overrides") {
    write("ca", "not parsed here\n");
    const config c = load_ok(
        "[server]\nhosts = [\"example.org\"]\n"
        "[s2s]\nrequire_valid_certificates = true\nca_file = \"ca.toml\"\ndns_servers = \"127.0.0.1:53\"\n"
        "connect_timeout = 7\nidle_timeout = 60\nmax_queued_stanzas = 10\nretry_initial = 2\nretry_max = 20\n"
        "source_addresses = [\"192.0.2.10\", \"2001:DB8::10\"]\n"
        "[s2s.hosts]\n\"Partner.Example\" = \"xmpp.partner.example:5299\"\n"
        "\"lab.test\" = [\"10.0.0.7\", \"[2001:db8::7]:5271\", \"tls:10.0.0.8:5270\"]\n"
        "[s2s.domains.\"old.example\"]\nrequire_valid_certificate = false\n");
    const hush::s2s_config& s = c.s2s;
    CHECK(s.require_valid_certificates);
    CHECK(s.ca_file == test_dir() / "conf" / "ca.toml");
    CHECK(s.dns_servers == "127.0.0.1:53");
    CHECK(s.connect_timeout == std::chrono::seconds{7});
    CHECK(s.idle_timeout == std::chrono::seconds{60});
    CHECK(s.max_queued_stanzas == 10);
    CHECK(s.retry_initial == std::chrono::seconds{2});
    CHECK(s.retry_max == std::chrono::seconds{20});
    CHECK(s.source_addresses == std::vector<std::string>{"192.0.2.10", "2001:db8::10"});  // canonical
    REQUIRE(s.hosts.size() == 2);
    CHECK(s.hosts.at("partner.example") == std::vector<hush::endpoint_spec>{{"xmpp.partner.example", 5299, false}});
    CHECK(s.hosts.at("lab.test") == std::vector<hush::endpoint_spec>{{"10.0.0.7", 5269, false},
                                                               {"2001:db8::7", 5271, false},
                                                               {"10.0.0.8", 5270, true}});
    CHECK_FALSE(s.requires_valid_certificate("old.example"));
    CHECK(s.requires_valid_certificate("partner.example"));
    CHECK_FALSE(load_ok("[s2s.domains.\"strict.example\"]\nrequire_valid_certificate = true\n")
                    .s2s.requires_valid_certificate("other.example"));
}

TEST_CASE("s2s: errors name the key") {
    CHECK(load_error("[s2s]\nsource_addresses = [\"example.org\"]\n") ==
          "2:20: s2s.source_addresses: expected IP addresses such as 192.0.2.10 or 2001:db8::10 (got \"example.org\")");
    CHECK(load_error("[s2s]\nsource_addresses = [\"192.0.2.1\", \"192.0.2.2\"]\n") ==
          "2:20: s2s.source_addresses: takes at most one IPv4 and one IPv6 address");
    CHECK(load_error("[s2s]\nrequire_valid_certificate = true\n") ==
          "2:1: s2s.require_valid_certificate: unknown key (did you mean s2s.require_valid_certificates?)");
    CHECK(load_error("[s2s]\nrequire_valid_certificates = \"yes\"\n") ==
          "2:30: s2s.require_valid_certificates: expected a boolean (true or false), got a string");
    CHECK(load_error("[s2s]\nhosts = \"b.test\"\n") == "2:9: s2s.hosts: expected a table, got a string");
    CHECK(load_error("s2s = 1\n") == "1:7: s2s: expected a table, got an integer");
    CHECK(load_error("[s2s]\nconnect_timeout = 0\n") == "2:19: s2s.connect_timeout: must be between 1 and 31536000 (got 0)");
    CHECK(load_error("[s2s]\nidle_timeout = -1\n").starts_with("2:16: s2s.idle_timeout: must be between 1 and "));
    CHECK(load_error("[s2s]\nmax_queued_stanzas = 0\n") ==
          "2:22: s2s.max_queued_stanzas: must be between 1 and 1000000 (got 0)");
    CHECK(load_error("[s2s]\ndns_servers = [\"127.0.0.1\"]\n") ==
          "2:15: s2s.dns_servers: expected a string, got an array");
}

TEST_CASE("s2s: retry_max is at least retry_initial") {
    CHECK(load_error("[s2s]\nretry_initial = 60\nretry_max = 30\n") ==
          "3:13: s2s.retry_max: must not be less than s2s.retry_initial (60)");
    // Only retry_initial is in the file: it is the one to fix.
    CHECK(load_error("[s2s]\nretry_initial = 600\n") ==
          "2:17: s2s.retry_initial: must not be more than s2s.retry_max (300)");
    CHECK(load_error("[s2s]\nretry_max = 4\n") == "2:13: s2s.retry_max: must not be less than s2s.retry_initial (5)");
    const config c = load_ok("[s2s]\nretry_initial = 30\nretry_max = 30\n");
    CHECK(c.s2s.retry_initial == std::chrono::seconds{30});
    CHECK(c.s2s.retry_max == std::chrono::seconds{30});
}

TEST_CASE("s2s: ca_file resolves against the config file's directory and must exist") {
    CHECK(load_error("[s2s]\nca_file = \"no-such-ca.pem\"\n") ==
          "2:11: s2s.ca_file: \"" + (test_dir() / "conf" / "no-such-ca.pem").string() +
              "\" does not exist or is not a file");
    fs::create_directories(test_dir() / "conf" / "certs");
    CHECK(load_error("[s2s]\nca_file = \"certs\"\n") ==
          "2:11: s2s.ca_file: \"" + (test_dir() / "conf" / "certs").string() + "\" does not exist or is not a file");
    write("peers-ca", "not parsed here\n");
    CHECK(load_ok("[s2s]\nca_file = \"../conf/peers-ca.toml\"\n").s2s.ca_file == test_dir() / "conf" / "peers-ca.toml");
    CHECK(load_ok("[s2s]\nca_file = \"\"\n").s2s.ca_file.empty());
}

TEST_CASE("s2s.hosts: bad values and domains") {
    CHECK(load_error("[s2s.hosts]\n\"b.test\" = \"b.test:port\"\n") ==
          "2:12: s2s.hosts.\"b.test\": expected \"host:port\", \"[v6]:port\" or \"host\", optionally prefixed with "
          "\"tls:\" (got \"b.test:port\")");
    CHECK(load_error("[s2s.hosts]\n\"b.test\" = \"tls:\"\n").starts_with("2:12: s2s.hosts.\"b.test\": expected "));
    CHECK(load_error("[s2s.hosts]\n\"b.test\" = \"[2001:db8::1\"\n").starts_with("2:12: s2s.hosts.\"b.test\": expected "));
    CHECK(load_error("[s2s.hosts]\n\"b.test\" = [\"b.test:5269\", \"b.test:99999\"]\n") ==
          "2:28: s2s.hosts.\"b.test\"[1]: expected \"host:port\", \"[v6]:port\" or \"host\", optionally prefixed "
          "with \"tls:\" (got \"b.test:99999\")");
    CHECK(load_error("[s2s.hosts]\n\"b.test\" = [\"b.test:5269\", 5]\n") ==
          "2:28: s2s.hosts.\"b.test\"[1]: expected a string such as \"host:5269\", got an integer");
    CHECK(load_error("[s2s.hosts]\n\"b.test\" = 5269\n") ==
          "2:12: s2s.hosts.\"b.test\": expected a string such as \"host:5269\" or an array of them, got an integer");
    CHECK(load_error("[s2s.hosts]\n\"b.test\" = []\n") == "2:12: s2s.hosts.\"b.test\": needs at least one \"host:port\"");
    CHECK(load_error("[s2s.hosts]\n\"bad domain\" = \"127.0.0.1\"\n") ==
          "2:1: s2s.hosts.\"bad domain\": \"bad domain\" is not a valid domain name");
    CHECK(load_error("[s2s.hosts]\n\"b.test\" = \"10.0.0.1\"\n\"B.Test.\" = \"10.0.0.2\"\n") ==
          "3:1: s2s.hosts.\"B.Test.\": the same domain as s2s.hosts.\"b.test\"");
    // Reported at the later of the two in the file, whatever their order as keys.
    CHECK(load_error("[s2s.hosts]\n\"B.Test.\" = \"10.0.0.1\"\n\"b.test\" = \"10.0.0.2\"\n") ==
          "3:1: s2s.hosts.\"b.test\": the same domain as s2s.hosts.\"B.Test.\"");
}

TEST_CASE("s2s: our own hosts are never remote") {
    CHECK(load_error("[s2s.hosts]\n\"localhost\" = \"127.0.0.1\"\n") ==
          "2:1: s2s.hosts.\"localhost\": \"localhost\" is one of server.hosts; Hush never federates with itself");
    // Compared after nameprep and lower-casing, as the router compares domains.
    CHECK(load_error("[server]\nhosts = [\"example.org\"]\n[s2s.hosts]\n\"Example.ORG.\" = \"127.0.0.1\"\n") ==
          "4:1: s2s.hosts.\"Example.ORG.\": \"example.org\" is one of server.hosts; Hush never federates with itself");
    CHECK(load_error("[s2s.domains.localhost]\nrequire_valid_certificate = true\n") ==
          "1:14: s2s.domains.\"localhost\": \"localhost\" is one of server.hosts; Hush never federates with itself");
    // Someone else's localhost is fine once it is not ours.
    CHECK(load_ok("[server]\nhosts = [\"example.org\"]\n[s2s.hosts]\nlocalhost = \"127.0.0.1:15269\"\n")
              .s2s.hosts.contains("localhost"));
}

TEST_CASE("s2s.domains: one boolean per domain") {
    CHECK(load_error("[s2s.domains.\"x.example\"]\nrequire_valid_certificates = true\n") ==
          "2:1: s2s.domains.\"x.example\".require_valid_certificates: unknown key (did you mean "
          "s2s.domains.\"x.example\".require_valid_certificate?)");
    CHECK(load_error("[s2s.domains.\"x.example\"]\nverify = true\n") ==
          "2:1: s2s.domains.\"x.example\".verify: unknown key");
    CHECK(load_error("[s2s.domains.\"x.example\"]\nrequire_valid_certificate = 1\n") ==
          "2:29: s2s.domains.\"x.example\".require_valid_certificate: expected a boolean (true or false), got an "
          "integer");
    CHECK(load_error("[s2s.domains]\n\"x.example\" = true\n") ==
          "2:15: s2s.domains.\"x.example\": expected a table ([s2s.domains.\"example.net\"]), got a boolean");
    CHECK(load_error("[s2s]\ndomains = 1\n") == "2:11: s2s.domains: expected a table, got an integer");
    CHECK(load_error("[s2s.domains.\"a b\"]\nrequire_valid_certificate = true\n") ==
          "1:14: s2s.domains.\"a b\": \"a b\" is not a valid domain name");
    CHECK(load_error("[s2s.domains.\"x.example\"]\nrequire_valid_certificate = true\n[s2s.domains.\"X.Example\"]\n"
                     "require_valid_certificate = false\n") ==
          "3:14: s2s.domains.\"X.Example\": the same domain as s2s.domains.\"x.example\"");
    // Inline tables are tables too; a table without the key overrides nothing.
    const config c = load_ok(
        "[s2s]\nrequire_valid_certificates = true\n"
        "[s2s.domains]\n\"Lax.Example\" = { require_valid_certificate = false }\n\"quiet.example\" = {}\n");
    CHECK(c.s2s.require_valid_certificate_for == std::map<std::string, bool>{{"lax.example", false}});
    CHECK_FALSE(c.s2s.requires_valid_certificate("lax.example"));
    CHECK(c.s2s.requires_valid_certificate("quiet.example"));
    CHECK(c.s2s.requires_valid_certificate("other.example"));
}
