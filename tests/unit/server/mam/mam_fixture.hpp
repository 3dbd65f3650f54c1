#pragma once
// Shared by the server/mam tests (mam_test.cpp, archive_writer_test.cpp): an archiver and mam_queries over a real
// SQLite async_store with alice and bob, and helpers to hold the storage (to make it refuse or wait).
#include <doctest.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/mam.hpp"
#include "server/im/accounts.hpp"
#include "server/mam/archive_writer.hpp"
#include "server/mam/archiver.hpp"
#include "server/mam/mam_queries.hpp"
#include "storage/async_store.hpp"

#include "tests/unit/test_support.hpp"


namespace hush::mam_testing {

using test::parse_jid;
using test::run_sync;
using test::sqlite_options;
using test::temp_dir;

inline stanza make_stanza(std::string_view xml) {
    stanza s = stanza::parse(xml);
    REQUIRE(s.valid());
    return s;
}

inline std::string chat(std::string_view from, std::string_view to, std::string_view body, std::string_view extra = {}) {
    return "<message type='chat' from='" + std::string(from) + "' to='" + std::string(to) + "'><body>" +
           std::string(body) + "</body>" + std::string(extra) + "</message>";
}

inline storage::store_options options_in(const temp_dir& dir, std::size_t max_queued) {
    auto o = sqlite_options(dir.path());
    o.max_queued = max_queued;
    return o;
}

struct fixture {
    // `max_queued`: the storage's job queue (1: with storage_blocker, every other job is refused).
    explicit fixture(std::size_t max_queued = 10000)
        : store(options_in(dir, max_queued)), archive(cfg, store), queries(cfg, store, archive, 4096) {
        for (const char* node : {"alice", "bob"}) {
            auto creds = accounts::make_credentials("secret-password", 4096);
            REQUIRE(creds);
            auto created = run_sync(store.run([node, creds = *creds](storage::store& s) {
                return s.create_account("example.org", node, creds);
            }));
            REQUIRE(created);
        }
    }

    // Delivers `xml` to its 'to' through the archiver as the router would; returns the stamped message.
    stanza receive(std::string_view xml) {
        stanza s = make_stanza(xml);
        run_sync(archive.inbound(s, parse_jid(s.from()), parse_jid(s.to()), false));
        return s;
    }

    void send(std::string_view xml) {
        const stanza s = make_stanza(xml);
        run_sync(archive.outbound(s, parse_jid(s.from()), parse_jid(s.to())));
    }

    struct answer {
        stanza reply;
        std::vector<stanza> results;
    };

    answer ask(std::string_view xml, std::string_view to) {
        const stanza iq = make_stanza(xml);
        outgoing out;
        auto reply = run_sync(queries.handle_iq(iq, parse_jid(to), out));
        REQUIRE(reply);
        answer a{std::move(*reply), {}};
        for (auto& o : out.take()) {
            CHECK(o.path == outgoing_path::resource);
            CHECK(o.resource.full_string() == iq.from());
            a.results.push_back(std::move(o.content));
        }
        return a;
    }

    answer query(std::string_view from, std::string_view to, std::string_view query_xml) {
        return ask("<iq type='set' id='q1' from='" + std::string(from) + "' to='" + std::string(to) + "'>" +
                       std::string(query_xml) + "</iq>",
                   to);
    }

    static std::vector<std::string> bodies(const answer& a) {
        std::vector<std::string> out;
        for (const auto& r : a.results) {
            out.emplace_back(r.element()
                                 .child("result")
                                 .child("forwarded")
                                 .child("message")
                                 .child_value("body"));
        }
        return out;
    }

    static std::string condition(const stanza& reply) {
        for (auto c : reply.element().child("error").children()) {
            return c.name();
        }
        return {};
    }

    mam_config cfg;
    temp_dir dir;
    storage::async_store store;
    archiver archive;
    mam_queries queries;
};

constexpr std::string_view alice = "alice@example.org/phone";

inline std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}
constexpr std::string_view bob = "bob@example.org/desk";

// Every id in the account's archive, in order (straight from the storage).
inline std::vector<std::int64_t> stored_ids(storage::async_store& store, const std::string& username) {
    storage::archive_query q;
    q.max = 100000;
    auto page = run_sync(store.read([username, q](storage::store& s) { return s.query_archive("example.org", username, q); }));
    REQUIRE(page);
    std::vector<std::int64_t> ids;
    for (const auto& i : page->items) {
        ids.push_back(i.id);
    }
    return ids;
}

inline storage::archived_message message_item(const std::string& body) {
    return {0, "alice@example.org", storage::archive_direction::incoming, "<message><body>" + body + "</body></message>"};
}

inline archive_writer::retry_policy quick_retries() {
    archive_writer::retry_policy r;
    r.first_pause = std::chrono::milliseconds(1);
    r.max_pause = std::chrono::milliseconds(2);
    return r;
}

// Runs `io` one handler at a time until `done` is ready (the writer's retries keep the loop busy meanwhile).
template <class T>
inline void run_until_ready(boost::asio::io_context& io, std::future<T>& done) {
    while (done.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        io.restart();
        io.run_one();
    }
}

// Holds the storage's writer connection with a job that waits until release(): the archive writer's jobs queue
// behind it — or, with max_queued 1, are refused at once ("storage queue full").
class storage_blocker {
public:
    explicit storage_blocker(storage::async_store& store) {
        auto released = released_.get_future().share();
        std::promise<void> started;
        auto running = started.get_future();
        thread_ = std::thread([&store, released, started = std::move(started)]() mutable {
            (void)run_sync(store.run([released, &started](storage::store&) -> storage::result<int> {
                started.set_value();
                released.wait();
                return 0;
            }));
        });
        running.wait();
    }
    ~storage_blocker() { release(); }
    void release() {
        if (thread_.joinable()) {
            released_.set_value();
            thread_.join();
        }
    }

private:
    std::promise<void> released_;
    std::thread thread_;
};

}  // namespace hush::mam_testing
