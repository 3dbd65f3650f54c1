#include <doctest.h>

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>

#include "server/s2s/resolver.hpp"

using namespace hush;
namespace asio = boost::asio;

namespace {

// ---- A tiny authoritative DNS server on 127.0.0.1, answering from a fixed zone (RFC 1035 wire format). ----

constexpr std::uint16_t type_a = 1;
constexpr std::uint16_t type_srv = 33;
constexpr std::uint16_t type_aaaa = 28;

struct zone_record {
    std::uint16_t type = 0;
    std::vector<std::uint8_t> rdata;
};

// Lower-case names without the trailing dot.
using zone = std::map<std::string, std::vector<zone_record>>;

// Names answered with this response code instead of from the zone; drop means no answer at all.
constexpr int drop = -1;
constexpr int servfail = 2;
using misbehaviour = std::map<std::string, int>;

void put16(std::vector<std::uint8_t>& out, std::uint16_t value) {
    out.push_back(static_cast<std::uint8_t>(value >> 8));
    out.push_back(static_cast<std::uint8_t>(value & 0xff));
}

std::vector<std::uint8_t> encode_name(const std::string& name) {
    std::vector<std::uint8_t> out;
    std::size_t start = 0;
    while (start < name.size() && name != ".") {
        const auto dot = std::min(name.find('.', start), name.size());
        out.push_back(static_cast<std::uint8_t>(dot - start));
        out.insert(out.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
                   name.begin() + static_cast<std::ptrdiff_t>(dot));
        start = dot + 1;
    }
    out.push_back(0);  // the root label; "." alone is just this
    return out;
}

zone_record a(const char* dotted) {
    zone_record r;
    r.type = type_a;
    r.rdata.resize(4);
    REQUIRE(inet_pton(AF_INET, dotted, r.rdata.data()) == 1);
    return r;
}

zone_record aaaa(const char* text) {
    zone_record r;
    r.type = type_aaaa;
    r.rdata.resize(16);
    REQUIRE(inet_pton(AF_INET6, text, r.rdata.data()) == 1);
    return r;
}

zone_record srv(std::uint16_t priority, std::uint16_t weight, std::uint16_t port, const std::string& target) {
    zone_record r;
    r.type = type_srv;
    put16(r.rdata, priority);
    put16(r.rdata, weight);
    put16(r.rdata, port);
    const auto name = encode_name(target);
    r.rdata.insert(r.rdata.end(), name.begin(), name.end());
    return r;
}

class fake_dns_server {
public:
    // A silent server reads nothing: every query to it goes unanswered (no ICMP refusal either).
    explicit fake_dns_server(zone records, bool silent = false, misbehaviour odd = {})
        : zone_(std::move(records)),
          odd_(std::move(odd)),
          socket_(io_, asio::ip::udp::endpoint(asio::ip::address_v4::loopback(), 0)) {
        if (!silent) {
            receive();
            thread_ = std::thread([this] { io_.run(); });
        }
    }

    ~fake_dns_server() {
        io_.stop();
        if (thread_.joinable()) {
            thread_.join();
        }
    }

    std::string servers() const { return "127.0.0.1:" + std::to_string(socket_.local_endpoint().port()); }

    // "name TYPE" for every question answered so far.
    std::vector<std::string> questions() const {
        const std::lock_guard lock(mutex_);
        return questions_;
    }

private:
    void receive() {
        socket_.async_receive_from(asio::buffer(buffer_), peer_, [this](boost::system::error_code ec, std::size_t n) {
            if (ec) {
                return;
            }
            if (auto reply = answer(n)) {
                boost::system::error_code ignored;
                socket_.send_to(asio::buffer(*reply), peer_, 0, ignored);
            }
            receive();
        });
    }

    std::optional<std::vector<std::uint8_t>> answer(std::size_t n) const {
        const std::uint8_t* q = buffer_.data();
        if (n < 12 || q[4] != 0 || q[5] != 1) {
            return std::nullopt;
        }
        std::string name;
        std::size_t at = 12;
        while (at < n && q[at] != 0) {
            const std::size_t length = q[at];
            if ((length & 0xc0) != 0 || at + 1 + length > n) {
                return std::nullopt;
            }
            if (!name.empty()) {
                name += '.';
            }
            for (std::size_t i = 0; i < length; ++i) {
                const char c = static_cast<char>(q[at + 1 + i]);
                name += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
            }
            at += 1 + length;
        }
        if (at + 5 > n) {
            return std::nullopt;
        }
        const std::size_t question_end = at + 5;  // root label, type, class
        const auto type = static_cast<std::uint16_t>(q[at + 1] << 8 | q[at + 2]);
        {
            const std::lock_guard lock(mutex_);
            questions_.push_back(name + " " + std::to_string(type));
        }

        int rcode = 0;
        if (const auto it = odd_.find(name); it != odd_.end()) {
            if (it->second == drop) {
                return std::nullopt;
            }
            rcode = it->second;
        }
        const auto found = zone_.find(name);
        if (found == zone_.end() && rcode == 0) {
            rcode = 3;  // NXDOMAIN
        }
        std::vector<const zone_record*> answers;
        if (found != zone_.end() && rcode == 0) {
            for (const auto& r : found->second) {
                if (r.type == type) {
                    answers.push_back(&r);
                }
            }
        }
        std::vector<std::uint8_t> out;
        out.push_back(q[0]);  // id
        out.push_back(q[1]);
        out.push_back(static_cast<std::uint8_t>(0x80 | (q[2] & 0x78) | 0x04 | (q[2] & 0x01)));  // QR, opcode, AA, RD
        out.push_back(static_cast<std::uint8_t>(0x80 | rcode));  // RA
        put16(out, 1);
        put16(out, static_cast<std::uint16_t>(answers.size()));
        put16(out, 0);
        put16(out, 0);
        out.insert(out.end(), q + 12, q + question_end);
        for (const zone_record* r : answers) {
            put16(out, 0xc000 | 12);  // the question's name
            put16(out, r->type);
            put16(out, 1);  // IN
            put16(out, 0);  // TTL 60
            put16(out, 60);
            put16(out, static_cast<std::uint16_t>(r->rdata.size()));
            out.insert(out.end(), r->rdata.begin(), r->rdata.end());
        }
        return out;
    }

    zone zone_;
    misbehaviour odd_;
    asio::io_context io_;
    asio::ip::udp::socket socket_;
    asio::ip::udp::endpoint peer_;
    std::array<std::uint8_t, 1500> buffer_{};
    mutable std::mutex mutex_;
    mutable std::vector<std::string> questions_;
    std::thread thread_;
};

zone test_zone() {
    zone z;
    // Two STARTTLS targets at different priorities, listed worst first.
    z["_xmpp-server._tcp.two.test"] = {srv(20, 0, 5270, "backup.two.test"), srv(10, 0, 5269, "primary.two.test")};
    z["primary.two.test"] = {a("127.0.0.2"), aaaa("::1")};
    z["backup.two.test"] = {a("127.0.0.3")};
    // No SRV at all.
    z["plain.test"] = {a("127.0.0.4")};
    // XEP-0368: direct TLS preferred by priority, STARTTLS after.
    z["_xmpps-server._tcp.tls.test"] = {srv(5, 0, 5223, "direct.tls.test")};
    z["_xmpp-server._tcp.tls.test"] = {srv(10, 0, 5269, "starttls.tls.test")};
    z["direct.tls.test"] = {a("127.0.0.5")};
    z["starttls.tls.test"] = {a("127.0.0.6")};
    // "." : no service, although an A record would allow a fallback.
    z["_xmpp-server._tcp.gone.test"] = {srv(0, 0, 0, ".")};
    z["gone.test"] = {a("127.0.0.7")};
    z["_xmpps-server._tcp.notls.test"] = {srv(0, 0, 0, ".")};
    z["notls.test"] = {a("127.0.0.7")};
    // One target does not resolve.
    z["_xmpp-server._tcp.half.test"] = {srv(10, 0, 5269, "missing.half.test"), srv(20, 0, 5269, "ok.half.test")};
    z["ok.half.test"] = {a("127.0.0.8")};
    z["_xmpp-server._tcp.dangling.test"] = {srv(10, 0, 5269, "nowhere.dangling.test")};
    // The first target's address never comes (see odd_names()).
    z["_xmpp-server._tcp.slow.test"] = {srv(10, 0, 5269, "hang.slow.test"), srv(20, 0, 5269, "fast.slow.test")};
    z["fast.slow.test"] = {a("127.0.0.10")};
    return z;
}

misbehaviour odd_names() {
    return {{"hang.slow.test", drop}, {"_xmpp-server._tcp.broken.test", servfail}};
}

resolver_options options_for(const fake_dns_server& server) {
    resolver_options options;
    options.servers = server.servers();  // never the machine's own resolvers
    options.seed = 42;
    return options;
}

// Runs one resolve() on a fresh io_context and stops as soon as it completes: c-ares may still be retrying
// abandoned queries, which the resolver's destruction then ends.
resolve_result resolve_once(resolver_options options, std::string domain) {
    asio::io_context io;
    resolver dns(io.get_executor(), std::move(options));
    std::optional<resolve_result> out;
    auto on_done = [&](std::exception_ptr error, resolve_result result) {
        if (error) {
            std::rethrow_exception(error);
        }
        out = std::move(result);
        io.stop();
    };
    asio::co_spawn(io, dns.resolve(std::move(domain)), std::move(on_done));
    io.run();
    REQUIRE(out.has_value());
    return std::move(*out);
}

std::vector<asio::ip::tcp::endpoint> endpoints(std::initializer_list<const char*> addresses, std::uint16_t port) {
    std::vector<asio::ip::tcp::endpoint> out;
    for (const char* address : addresses) {
        out.emplace_back(asio::ip::make_address(address), port);
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<asio::ip::tcp::endpoint> sorted(std::vector<asio::ip::tcp::endpoint> v) {
    std::sort(v.begin(), v.end());
    return v;
}

}  // namespace

// ---- Real resolution through c-ares against the fake server ----

TEST_CASE("SRV targets come back in priority order with their addresses") {
    const fake_dns_server server(test_zone());
    const auto result = resolve_once(options_for(server), "two.test");
    REQUIRE_FALSE(result.error);
    CHECK(result.source == resolve_source::srv);
    REQUIRE(result.targets.size() == 2);
    CHECK(result.targets[0].host == "primary.two.test");
    CHECK(result.targets[0].port == 5269);
    CHECK_FALSE(result.targets[0].direct_tls);
    CHECK(sorted(result.targets[0].endpoints) == endpoints({"127.0.0.2", "::1"}, 5269));
    CHECK(result.targets[1].host == "backup.two.test");
    CHECK(result.targets[1].port == 5270);
    CHECK(sorted(result.targets[1].endpoints) == endpoints({"127.0.0.3"}, 5270));
}

TEST_CASE("a domain without SRV records falls back to DOMAIN:5269 with STARTTLS") {
    const fake_dns_server server(test_zone());
    const auto result = resolve_once(options_for(server), "plain.test");
    REQUIRE_FALSE(result.error);
    CHECK(result.source == resolve_source::fallback);
    REQUIRE(result.targets.size() == 1);
    CHECK(result.targets[0].host == "plain.test");
    CHECK(result.targets[0].port == 5269);
    CHECK_FALSE(result.targets[0].direct_tls);
    CHECK(result.targets[0].endpoints == endpoints({"127.0.0.4"}, 5269));
}

TEST_CASE("an _xmpps-server record marks direct TLS") {
    const fake_dns_server server(test_zone());
    const auto result = resolve_once(options_for(server), "tls.test");
    REQUIRE_FALSE(result.error);
    REQUIRE(result.targets.size() == 2);
    CHECK(result.targets[0].host == "direct.tls.test");
    CHECK(result.targets[0].port == 5223);
    CHECK(result.targets[0].direct_tls);
    CHECK(result.targets[0].endpoints == endpoints({"127.0.0.5"}, 5223));
    CHECK(result.targets[1].host == "starttls.tls.test");
    CHECK_FALSE(result.targets[1].direct_tls);
}

TEST_CASE("a '.' target means not available, with no A fallback") {
    const fake_dns_server server(test_zone());
    SUBCASE("for _xmpp-server") {
        const auto result = resolve_once(options_for(server), "gone.test");
        CHECK(result.error == resolve_errc::not_available);
        CHECK(result.targets.empty());
    }
    SUBCASE("for _xmpps-server with no _xmpp-server record") {
        const auto result = resolve_once(options_for(server), "notls.test");
        CHECK(result.error == resolve_errc::not_available);
        CHECK(result.targets.empty());
    }
    // Nothing looked up the domain's own address.
    for (const auto& question : server.questions()) {
        CHECK(question.find("_xmpp") == 0);
    }
}

TEST_CASE("targets without an address are skipped") {
    const fake_dns_server server(test_zone());
    SUBCASE("the others remain") {
        const auto result = resolve_once(options_for(server), "half.test");
        REQUIRE_FALSE(result.error);
        REQUIRE(result.targets.size() == 1);
        CHECK(result.targets[0].host == "ok.half.test");
    }
    SUBCASE("none left: not found") {
        const auto result = resolve_once(options_for(server), "dangling.test");
        CHECK(result.error == resolve_errc::not_found);
        CHECK(result.source == resolve_source::srv);
    }
    SUBCASE("an unknown domain falls back and finds nothing") {
        const auto result = resolve_once(options_for(server), "nothing.test");
        CHECK(result.error == resolve_errc::not_found);
        CHECK(result.source == resolve_source::fallback);
    }
}

TEST_CASE("a SERVFAIL with nothing usable is a lookup failure, not a fallback") {
    const fake_dns_server server(test_zone(), false, odd_names());
    const auto result = resolve_once(options_for(server), "broken.test");
    CHECK(result.error == resolve_errc::lookup_failed);
    CHECK(result.targets.empty());
}

TEST_CASE("at the deadline the targets resolved so far are returned") {
    const fake_dns_server server(test_zone(), false, odd_names());
    auto options = options_for(server);
    options.deadline = std::chrono::milliseconds(300);
    const auto result = resolve_once(options, "slow.test");
    REQUIRE_FALSE(result.error);
    REQUIRE(result.targets.size() == 1);
    CHECK(result.targets[0].host == "fast.slow.test");
    CHECK(result.targets[0].endpoints == endpoints({"127.0.0.10"}, 5269));
}

TEST_CASE("a server that never answers gives the timeout error") {
    const fake_dns_server silent(zone{}, true);
    auto options = options_for(silent);
    options.deadline = std::chrono::milliseconds(300);
    const auto result = resolve_once(options, "two.test");
    CHECK(result.error == resolve_errc::timeout);
    CHECK(result.targets.empty());
}

TEST_CASE(".invalid names are not found without asking DNS (RFC 6761)") {
    const fake_dns_server dns(zone{});
    auto options = options_for(dns);
    for (const char* name : {"nowhere.invalid", "Deep.Nowhere.INVALID.", "invalid"}) {
        const auto result = resolve_once(options, name);
        CHECK(result.error == resolve_errc::not_found);
    }
    CHECK(dns.questions().empty());
    SUBCASE("unless the static table names it") {
        options.static_hosts["lab.invalid"] = {{"127.0.0.9", 5999, false}};
        const auto result = resolve_once(options, "lab.invalid");
        CHECK_FALSE(result.error);
    }
}

TEST_CASE("the static table replaces the SRV lookups") {
    SUBCASE("IP literals need no DNS at all") {
        const fake_dns_server silent(zone{}, true);
        auto options = options_for(silent);
        options.static_hosts["Static.Test"] = {{"127.0.0.9", 5999, false}, {"::1", 5270, true}};
        const auto result = resolve_once(options, "static.test");
        REQUIRE_FALSE(result.error);
        CHECK(result.source == resolve_source::static_table);
        REQUIRE(result.targets.size() == 2);
        CHECK(result.targets[0].host == "127.0.0.9");
        CHECK(result.targets[0].endpoints == endpoints({"127.0.0.9"}, 5999));
        CHECK_FALSE(result.targets[0].direct_tls);
        CHECK(result.targets[1].endpoints == endpoints({"::1"}, 5270));
        CHECK(result.targets[1].direct_tls);
    }
    SUBCASE("host names are resolved, but no SRV is asked for") {
        const fake_dns_server server(test_zone());
        auto options = options_for(server);
        options.static_hosts["two.test"] = {*parse_endpoint_spec("backup.two.test:6000")};
        const auto result = resolve_once(options, "TWO.test");
        REQUIRE_FALSE(result.error);
        CHECK(result.source == resolve_source::static_table);
        REQUIRE(result.targets.size() == 1);
        CHECK(result.targets[0].endpoints == endpoints({"127.0.0.3"}, 6000));
        const auto questions = server.questions();
        CHECK_FALSE(questions.empty());
        for (const auto& question : questions) {
            CHECK(question.find("backup.two.test ") == 0);
        }
    }
}

TEST_CASE("concurrent resolutions share one channel") {
    const fake_dns_server server(test_zone());
    asio::io_context io;
    resolver dns(io.get_executor(), options_for(server));
    std::map<std::string, resolve_result> results;
    for (const char* domain : {"two.test", "tls.test", "plain.test", "gone.test"}) {
        auto on_done = [&results, name = std::string(domain)](std::exception_ptr error, resolve_result result) {
            REQUIRE_FALSE(error);
            results[name] = std::move(result);
        };
        asio::co_spawn(io, dns.resolve(domain), std::move(on_done));
    }
    io.run();  // every query is answered, so the loop runs dry by itself
    REQUIRE(results.size() == 4);
    CHECK(results["two.test"].targets.size() == 2);
    CHECK(results["tls.test"].targets.at(0).direct_tls);
    CHECK(results["plain.test"].source == resolve_source::fallback);
    CHECK(results["gone.test"].error == resolve_errc::not_available);
}

TEST_CASE("outstanding resolutions end as cancelled") {
    const fake_dns_server silent(zone{}, true);
    asio::io_context io;
    auto dns = std::make_unique<resolver>(io.get_executor(), options_for(silent));
    std::optional<resolve_result> out;
    auto on_done = [&](std::exception_ptr error, resolve_result result) {
        REQUIRE_FALSE(error);
        out = std::move(result);
        io.stop();
    };

    SUBCASE("when the resolver is destroyed") {
        asio::co_spawn(io, dns->resolve("two.test"), std::move(on_done));
        asio::post(io, [&] { dns.reset(); });  // runs after the coroutine has sent its queries
    }
    SUBCASE("through the operation's cancellation slot") {
        asio::cancellation_signal signal;
        asio::co_spawn(io, dns->resolve("two.test"), asio::bind_cancellation_slot(signal.slot(), std::move(on_done)));
        asio::post(io, [&] { signal.emit(asio::cancellation_type::terminal); });
        io.run();
        dns.reset();
    }
    io.run();
    REQUIRE(out.has_value());
    CHECK(out->error == resolve_errc::cancelled);
}

TEST_CASE("a malformed server list is refused at construction") {
    asio::io_context io;
    resolver_options options;
    options.servers = "not an address";
    CHECK_THROWS_AS(resolver(io.get_executor(), options), std::runtime_error);
}
