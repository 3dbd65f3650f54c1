// The bounded LRU map behind the in-memory detection state: capacity, recency, eviction counting.
#include <doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "antispim/bounded_map.hpp"
#include "antispim/state_metrics.hpp"

using namespace hush::antispim;

namespace {

std::vector<std::string> keys_of(const bounded_map<std::string, int>& m) {
    std::vector<std::string> out;
    for (const auto& [k, v] : m) {
        out.push_back(k);
    }
    return out;
}

}  // namespace

TEST_CASE("bounded_map: the capacity is never exceeded") {
    bounded_map<std::string, int> m(3);
    CHECK(m.capacity() == 3);
    for (int i = 0; i < 10; ++i) {
        m.insert_or_assign("k" + std::to_string(i), i);
        CHECK(m.size() <= 3);
    }
    CHECK(m.size() == 3);
    CHECK(m.evictions() == 7);
    // The three newest are left.
    CHECK(keys_of(m) == std::vector<std::string>{"k9", "k8", "k7"});
    CHECK(*m.peek("k7") == 7);
    CHECK_FALSE(m.contains("k6"));
    bounded_map<std::string, int> tiny(0);  // a capacity of 0 means 1
    tiny["a"] = 1;
    tiny["b"] = 2;
    CHECK(tiny.capacity() == 1);
    CHECK(keys_of(tiny) == std::vector<std::string>{"b"});
}

TEST_CASE("bounded_map: the least recently used entry goes first, and access touches") {
    bounded_map<std::string, int> m(3);
    m.insert_or_assign("a", 1);
    m.insert_or_assign("b", 2);
    m.insert_or_assign("c", 3);
    CHECK(keys_of(m) == std::vector<std::string>{"c", "b", "a"});
    REQUIRE(m.find("a") != nullptr);  // touches "a": now "b" is the oldest
    CHECK(keys_of(m) == std::vector<std::string>{"a", "c", "b"});
    m.insert_or_assign("d", 4);
    CHECK_FALSE(m.contains("b"));
    CHECK(keys_of(m) == std::vector<std::string>{"d", "a", "c"});
    // try_emplace on an existing key touches it and leaves the value alone.
    auto [value, inserted] = m.try_emplace("c", 99);
    CHECK_FALSE(inserted);
    CHECK(value == 3);
    CHECK(keys_of(m) == std::vector<std::string>{"c", "d", "a"});
    // insert_or_assign on an existing key replaces the value and touches it.
    m.insert_or_assign("a", 10);
    CHECK(*m.peek("a") == 10);
    CHECK(keys_of(m) == std::vector<std::string>{"a", "c", "d"});
    // peek and contains do not touch.
    CHECK(*m.peek("d") == 4);
    CHECK(m.contains("d"));
    CHECK(keys_of(m) == std::vector<std::string>{"a", "c", "d"});
    m["e"] = 5;
    CHECK_FALSE(m.contains("d"));
    CHECK(m.evictions() == 2);
}

TEST_CASE("bounded_map: a key that keeps coming back survives a flood of new keys") {
    bounded_map<std::string, int> m(100);
    m["regular"] = 0;
    for (int i = 0; i < 10000; ++i) {
        m["flood" + std::to_string(i)] = i;
        if (i % 50 == 0) {
            ++*m.find("regular");
        }
    }
    REQUIRE(m.contains("regular"));
    CHECK(*m.peek("regular") == 200);
    CHECK(m.size() == 100);
    CHECK(m.evictions() == 10001 - 100);
}

TEST_CASE("bounded_map: erase and expiry are not evictions; counters can be shared") {
    state_metrics metrics;
    bounded_map<std::string, int> a(2, metrics.counter(state_metrics::map::dos));
    bounded_map<std::string, int> b(2, metrics.counter(state_metrics::map::dos));
    a["x"] = 1;
    a["y"] = 2;
    a["z"] = 3;  // evicts x
    b["x"] = 1;
    b["y"] = 2;
    b["z"] = 3;  // evicts x
    b["w"] = 4;  // evicts y
    CHECK(a.evictions() == 1);
    CHECK(b.evictions() == 2);
    CHECK(metrics.total(state_metrics::map::dos) == 3);
    CHECK(metrics.total(state_metrics::map::rate) == 0);
    CHECK(state_metrics::name(state_metrics::map::s2s_backoff) == "s2s_backoff");

    CHECK(a.erase("z"));
    CHECK_FALSE(a.erase("z"));
    CHECK(a.size() == 1);
    CHECK(a.find("z") == nullptr);

    bounded_map<std::string, int> ages(10);
    for (int i = 0; i < 6; ++i) {
        ages["k" + std::to_string(i)] = i;  // k0 oldest
    }
    ages.find("k1");  // touched: now the newest
    // Expiry from the old end (k0, k2, k3, ...) stops at the first fresh entry: k1 is stale but was touched.
    CHECK(ages.erase_oldest_while([](const std::string&, int v) { return v < 3; }) == 2);  // k0, k2
    CHECK(keys_of(ages) == std::vector<std::string>{"k1", "k5", "k4", "k3"});
    CHECK(ages.erase_if([](const std::string&, int v) { return v % 2 == 1; }) == 3);  // k1, k3, k5
    CHECK(keys_of(ages) == std::vector<std::string>{"k4"});
    CHECK(ages.evictions() == 0);
    ages.clear();
    CHECK(ages.empty());
}

TEST_CASE("bounded_map: values that only move") {
    bounded_map<int, std::unique_ptr<int>> m(2);
    m.try_emplace(1, std::make_unique<int>(1));
    m.insert_or_assign(2, std::make_unique<int>(2));
    m.insert_or_assign(2, std::make_unique<int>(22));
    m.try_emplace(3, std::make_unique<int>(3));
    CHECK_FALSE(m.contains(1));
    CHECK(**m.find(2) == 22);
    CHECK(**m.find(3) == 3);
}
