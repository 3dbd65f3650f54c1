// The pure parts of the server resolver (server/s2s/srv_plan.cpp): RFC 2782 ordering of SRV records, the merged
// plan of xmpps/xmpp targets, and the static host table's endpoint syntax. No DNS involved.
#include <doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "server/s2s/resolver.hpp"

using namespace hush;

namespace {

srv_record rec(std::string target, std::uint16_t priority, std::uint16_t weight, std::uint16_t port = 5269) {
    srv_record r;
    r.target = std::move(target);
    r.port = port;
    r.priority = priority;
    r.weight = weight;
    return r;
}

std::vector<std::string> targets_of(const std::vector<srv_record>& records) {
    std::vector<std::string> out;
    for (const auto& r : records) {
        out.push_back(r.target);
    }
    return out;
}

}  // namespace

// ---- RFC 2782 ordering ----

TEST_CASE("order_srv puts lower priorities first whatever their weights") {
    std::mt19937 rng(7);
    const std::vector<srv_record> records = {rec("c", 30, 100), rec("a1", 10, 1), rec("b", 20, 50), rec("a2", 10, 60)};
    for (int draw = 0; draw < 200; ++draw) {
        const auto ordered = order_srv(records, rng);
        REQUIRE(ordered.size() == 4);
        CHECK(ordered[0].priority == 10);
        CHECK(ordered[1].priority == 10);
        CHECK(ordered[2].target == "b");
        CHECK(ordered[3].target == "c");
    }
}

TEST_CASE("order_srv with zero weights") {
    std::mt19937 rng(7);
    SUBCASE("all zero: the listed order stands") {
        const std::vector<srv_record> records = {rec("x", 1, 0), rec("y", 1, 0), rec("z", 1, 0)};
        for (int draw = 0; draw < 50; ++draw) {
            CHECK(targets_of(order_srv(records, rng)) == std::vector<std::string>{"x", "y", "z"});
        }
    }
    SUBCASE("a zero weight beside weighted records is first only when the draw is 0") {
        const std::vector<srv_record> records = {rec("heavy", 1, 9), rec("zero", 1, 0)};
        int zero_first = 0;
        const int draws = 10'000;
        for (int draw = 0; draw < draws; ++draw) {
            const auto ordered = order_srv(records, rng);
            REQUIRE(ordered.size() == 2);
            zero_first += ordered[0].target == "zero" ? 1 : 0;
        }
        CHECK(zero_first > 0);  // still reachable
        CHECK(static_cast<double>(zero_first) / draws == doctest::Approx(1.0 / 10).epsilon(0.25));
    }
}

TEST_CASE("order_srv draws in proportion to weight (fixed seed, many draws)") {
    std::mt19937 rng(12345);
    // Running sums over [zero, a, b] = 0, 10, 40 against a draw in 0..40: zero 1/41, a 10/41, b 30/41.
    const std::vector<srv_record> records = {rec("a", 5, 10), rec("b", 5, 30), rec("zero", 5, 0)};
    std::map<std::string, int> first;
    const int draws = 41'000;
    for (int draw = 0; draw < draws; ++draw) {
        auto ordered = order_srv(records, rng);
        REQUIRE(ordered.size() == 3);
        std::sort(ordered.begin() + 1, ordered.end(),
                  [](const srv_record& x, const srv_record& y) { return x.target < y.target; });
        ++first[ordered[0].target];
    }
    const auto share = [&](const char* target) { return static_cast<double>(first[target]) / draws; };
    CHECK(std::abs(share("a") - 10.0 / 41) < 0.015);
    CHECK(std::abs(share("b") - 30.0 / 41) < 0.015);
    CHECK(std::abs(share("zero") - 1.0 / 41) < 0.01);
}

TEST_CASE("order_srv keeps every record exactly once") {
    std::mt19937 rng(3);
    const std::vector<srv_record> records = {rec("a", 1, 5), rec("b", 1, 5), rec("c", 2, 0), rec("d", 1, 0)};
    for (int draw = 0; draw < 100; ++draw) {
        auto names = targets_of(order_srv(records, rng));
        std::sort(names.begin(), names.end());
        CHECK(names == std::vector<std::string>{"a", "b", "c", "d"});
    }
}

TEST_CASE("order_srv with a single record, none, and the root target") {
    std::mt19937 rng(1);
    const auto single = order_srv({rec("only", 3, 0, 5999)}, rng);
    REQUIRE(single.size() == 1);
    CHECK(single[0] == rec("only", 3, 0, 5999));
    CHECK(order_srv({}, rng).empty());
    // "." is no place to connect to: dropped, alone or among others (c-ares may spell it "").
    CHECK(order_srv({rec(".", 0, 0, 0)}, rng).empty());
    CHECK(order_srv({rec("", 0, 0, 0)}, rng).empty());
    CHECK(targets_of(order_srv({rec(".", 0, 0, 0), rec("real", 5, 0)}, rng)) == std::vector<std::string>{"real"});
    CHECK(is_root_target("."));
    CHECK(is_root_target(""));
    CHECK_FALSE(is_root_target("example.org"));
}

// ---- Merging both services (RFC 6120 §3.2, XEP-0368) ----

TEST_CASE("plan_targets merges xmpps and xmpp records into one priority order") {
    std::mt19937 rng(9);
    srv_lookup xmpps{srv_status::found, {rec("tls-b", 20, 0, 5223)}};
    srv_lookup xmpp{srv_status::found, {rec("plain-a", 10, 0), rec("plain-c", 30, 0)}};
    const auto plan = plan_targets("example.org", xmpps, xmpp, rng);
    CHECK_FALSE(plan.error);
    CHECK(plan.source == resolve_source::srv);
    REQUIRE(plan.targets.size() == 3);
    CHECK(plan.targets[0] == endpoint_spec{"plain-a", 5269, false});
    CHECK(plan.targets[1] == endpoint_spec{"tls-b", 5223, true});
    CHECK(plan.targets[2] == endpoint_spec{"plain-c", 5269, false});
}

TEST_CASE("plan_targets: no records, root targets and failed lookups") {
    std::mt19937 rng(9);
    const srv_lookup none{srv_status::none, {}};
    const srv_lookup root{srv_status::found, {rec(".", 0, 0, 0)}};
    const srv_lookup failed{srv_status::failed, {}};
    const srv_lookup timed_out{srv_status::timed_out, {}};
    const srv_lookup usable{srv_status::found, {rec("xmpp.example.org", 0, 0)}};

    SUBCASE("neither service has a record: DOMAIN:5269 with STARTTLS") {
        const auto plan = plan_targets("example.org", none, none, rng);
        CHECK_FALSE(plan.error);
        CHECK(plan.source == resolve_source::fallback);
        CHECK(plan.targets == std::vector<endpoint_spec>{{"example.org", 5269, false}});
    }
    SUBCASE("'.' for xmpp-server: not available") {
        CHECK(plan_targets("example.org", none, root, rng).error == resolve_errc::not_available);
    }
    SUBCASE("'.' for xmpps-server alone: not available, no A/AAAA fallback") {
        CHECK(plan_targets("example.org", root, none, rng).error == resolve_errc::not_available);
    }
    SUBCASE("'.' for one service, records for the other: those records") {
        const auto plan = plan_targets("example.org", root, usable, rng);
        CHECK_FALSE(plan.error);
        CHECK(plan.targets == std::vector<endpoint_spec>{{"xmpp.example.org", 5269, false}});
    }
    SUBCASE("a failure beside usable records does not matter") {
        CHECK_FALSE(plan_targets("example.org", failed, usable, rng).error);
        CHECK_FALSE(plan_targets("example.org", usable, timed_out, rng).error);
    }
    SUBCASE("a failure with nothing usable is an error, never a fallback") {
        CHECK(plan_targets("example.org", failed, none, rng).error == resolve_errc::lookup_failed);
        CHECK(plan_targets("example.org", none, timed_out, rng).error == resolve_errc::timeout);
        CHECK(plan_targets("example.org", root, failed, rng).error == resolve_errc::lookup_failed);
    }
}

TEST_CASE("parse_endpoint_spec") {
    CHECK(parse_endpoint_spec("xmpp.example.org:5270") == endpoint_spec{"xmpp.example.org", 5270, false});
    CHECK(parse_endpoint_spec("xmpp.example.org") == endpoint_spec{"xmpp.example.org", 5269, false});
    CHECK(parse_endpoint_spec("192.0.2.7:5269") == endpoint_spec{"192.0.2.7", 5269, false});
    CHECK(parse_endpoint_spec("[2001:db8::7]:5271") == endpoint_spec{"2001:db8::7", 5271, false});
    CHECK(parse_endpoint_spec("[2001:db8::7]") == endpoint_spec{"2001:db8::7", 5269, false});
    CHECK_FALSE(parse_endpoint_spec(""));
    CHECK_FALSE(parse_endpoint_spec(":5269"));
    CHECK_FALSE(parse_endpoint_spec("host:"));
    CHECK_FALSE(parse_endpoint_spec("host:0"));
    CHECK_FALSE(parse_endpoint_spec("host:65536"));
    CHECK_FALSE(parse_endpoint_spec("host:52x"));
    CHECK_FALSE(parse_endpoint_spec("2001:db8::7"));  // ambiguous without brackets
    CHECK_FALSE(parse_endpoint_spec("[2001:db8::7"));
    CHECK_FALSE(parse_endpoint_spec("[2001:db8::7]5269"));
    CHECK_FALSE(parse_endpoint_spec("bad host:5269"));
}
