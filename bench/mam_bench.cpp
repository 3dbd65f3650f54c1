// hush-mam-bench: one account's XEP-0313 archive filled through the storage layer (storage/sql_archive_store.cpp),
// then page queries timed as hushd runs them (docs/performance.md, "Message archive").
//   hush-mam-bench sqlite PATH [ITEMS]       a fresh SQLite file (deleted first)
//   hush-mam-bench postgresql URL [ITEMS]    an empty PostgreSQL database
// ITEMS defaults to 1,000,000: ids 1 ms apart (about 17 minutes of archive), with one of 20 parties each.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "storage/store.hpp"

using namespace hush::storage;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr const char* domain = "bench.example";
constexpr const char* user = "alice";
constexpr std::int64_t base_id = 1'765'000'000'000'000;  // a microsecond in December 2025
constexpr std::int64_t step = 1000;                        // 1 ms between items
constexpr int parties = 20;
constexpr int repeats = 21;

std::string party(std::int64_t i) { return "contact" + std::to_string(i % parties) + "@bench.example"; }

template <class T>
T must(result<T> r, const char* what) {
    if (!r) {
        std::fprintf(stderr, "%s: %s\n", what, r.error().message.c_str());
        std::exit(1);
    }
    return std::move(*r);
}

void must(result<void> r, const char* what) {
    if (!r) {
        std::fprintf(stderr, "%s: %s\n", what, r.error().message.c_str());
        std::exit(1);
    }
}

// Median milliseconds of `repeats` runs of one query (the first run warms the caches and is counted too).
double time_query(store& s, const archive_query& q, std::size_t expect) {
    std::vector<double> ms;
    for (int i = 0; i < repeats; ++i) {
        const auto start = clock_type::now();
        const auto page = must(s.query_archive(domain, user, q), "query");
        ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - start).count());
        if (page.items.size() != expect) {
            std::fprintf(stderr, "expected %zu items, got %zu\n", expect, page.items.size());
            std::exit(1);
        }
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s sqlite PATH [ITEMS] | postgresql URL [ITEMS]\n", argv[0]);
        return 2;
    }
    store_options o;
    const std::string kind = argv[1];
    if (kind == "sqlite") {
        o.backend = store_options::backend_kind::sqlite;
        o.sqlite_path = argv[2];
        std::filesystem::remove(o.sqlite_path);
    } else if (kind == "postgresql") {
        o.backend = store_options::backend_kind::postgresql;
        o.postgres_url = argv[2];
    } else {
        std::fprintf(stderr, "unknown backend %s\n", argv[1]);
        return 2;
    }
    const std::int64_t items = argc > 3 ? std::atoll(argv[3]) : 1'000'000;
    auto s = open_store(o);
    must(s->migrate(), "migrate");
    account_credentials creds;
    creds.sha1 = {"salt", 4096, std::string(20, 'k'), std::string(20, 's')};
    creds.sha256 = {"salt", 4096, std::string(32, 'k'), std::string(32, 's')};
    must(s->create_account(domain, user, creds), "create account");

    // The fill: 10,000 items per transaction.
    const std::string body(120, 'x');
    const auto fill_start = clock_type::now();
    for (std::int64_t done = 0; done < items;) {
        const std::int64_t batch_end = std::min(items, done + 10'000);
        must(s->atomically(domain, user,
                           [&]() -> result<void> {
                               for (std::int64_t i = done; i < batch_end; ++i) {
                                   archived_message m{base_id + i * step, party(i),
                                                      i % 2 == 0 ? archive_direction::incoming
                                                                 : archive_direction::outgoing,
                                                      "<message type='chat' from='" + party(i) + "/r' to='alice@" +
                                                          domain + "'><body>" + body + "</body></message>"};
                                   auto id = s->append_archive(domain, user, m);
                                   if (!id) {
                                       return hush::unexpected(id.error());
                                   }
                               }
                               return {};
                           }),
             "fill");
        done = batch_end;
    }
    const double fill_s = std::chrono::duration<double>(clock_type::now() - fill_start).count();
    std::printf("backend %s, %lld items filled in %.1f s (%.0f items/s)\n", kind.c_str(),
                static_cast<long long>(items), fill_s, static_cast<double>(items) / fill_s);

    const std::int64_t middle = base_id + (items / 2) * step;
    struct named {
        const char* name;
        archive_query q;
        std::size_t expect;
    };
    std::vector<named> queries;
    archive_query q;
    q.max = 100;
    queries.push_back({"first page (no filter)", q, 100});
    q.after = middle;
    queries.push_back({"page after an id in the middle", q, 100});
    q.after.reset();
    q.backward = true;
    queries.push_back({"last page (<before/>)", q, 100});
    q.before = middle;
    queries.push_back({"page before an id in the middle", q, 100});
    q = archive_query{};
    q.max = 100;
    q.with = party(7);
    q.after = base_id + 7 * step + (items / 2 / parties) * parties * step;  // one of party 7's ids, mid-archive
    queries.push_back({"with one of 20 parties, after a mid id", q, 100});
    q = archive_query{};
    q.max = 100;
    q.start = middle - 500;
    q.end = middle + 60'000'000;
    queries.push_back({"start/end: one minute mid-archive", q, 100});
    q = archive_query{};
    q.max = 0;
    q.count = true;
    queries.push_back({"count of the whole archive (<max>0</max>)", q, 0});
    q.with = party(3);
    queries.push_back({"count with one party", q, 0});
    for (const auto& n : queries) {
        std::printf("  %-45s median %8.3f ms of %d\n", n.name, time_query(*s, n.q, n.expect), repeats);
    }
    return 0;
}
