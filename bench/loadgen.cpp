// hush-loadgen: logs N clients into an XMPP server and has pairs of them exchange messages; prints what it
// measured as one JSON object on stdout (progress on stderr). Works against any server: Hush, Prosody, ejabberd.
//
//   hush-loadgen --port 5222 --domain localhost --users 1000 [--prefix bench] [--first 0] [--password pw] [--register]
//                [--plain] [--no-tls] [--concurrency 200] [--threads 1] [--sources 127.0.0.1,127.0.0.2]
//                [--hold SECONDS] [--duration SECONDS] [--rate MSGS_PER_CLIENT_PER_S | --window N]
//                [--scram-cache FILE] [--target-prefix legit --target-count 1000] [--subscribe-pairs]
//
// --first N: the users are PREFIX<N>..PREFIX<N+users-1> (login rounds with fresh accounts each).
// --target-prefix/--target-count: instead of its pair partner, each client writes (at --rate) to a random one of
// PREFIX0..PREFIX(COUNT-1) — strangers, for a flood.
// --subscribe-pairs: after login, partners become mutual roster contacts (RFC 6121 §3.4 pre-approval both ways,
// then a subscription request each way, answered by the server on the pre-approval), so a server that checks who
// is a contact sees contacts.
//
// The generator's own CPU time is reported per phase (login_generator_cpu_s, generator_cpu_s and
// generator_cpu_percent over the measured window, of one core), so a run can tell whether it measured the server or
// itself; the measured window is announced on stderr (`loadgen: measuring`, `loadgen: measured`) for whoever
// samples the server's CPU over exactly that window.
//
// Phases: (register) → login (TLS, SASL, bind, roster, initial presence), timed → hold (idle, for memory
// sampling; "logged in" is announced on stderr as `loadgen: ready`) → messages for --duration, each client to its
// pair partner, at --rate per client or flat out with at most --window messages in flight per sender.
#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <sys/resource.h>

#include "bench/xmpp_client.hpp"

namespace asio = boost::asio;
using hush::bench::client_options;
using hush::bench::xmpp_client;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
    client_options client;
    std::size_t users = 100;
    std::string prefix = "bench";
    std::size_t first = 0;
    std::string password = "bench-password-1";
    bool register_first = false;
    std::size_t concurrency = 200;
    unsigned threads = 1;
    std::vector<std::string> sources;
    double hold = 0;
    double duration = 10;
    double rate = 0;  // per client; 0 = flat out
    std::size_t window = 10;
    std::string scram_cache;
    std::string target_prefix;
    std::size_t target_count = 0;
    bool subscribe_pairs = false;
};

const clock_type::time_point epoch = clock_type::now();

std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - epoch).count();
}

// This process's CPU time (user + system), in seconds.
double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Whether `stanza` has attribute `name` with `value` (either quote style: servers differ).
bool has_attribute(std::string_view stanza, std::string_view name, std::string_view value) {
    const std::string single = std::string(name) + "='" + std::string(value) + "'";
    const std::string dbl = std::string(name) + "=\"" + std::string(value) + "\"";
    const auto end = stanza.find('>');
    const auto head = stanza.substr(0, end);
    return head.find(single) != std::string_view::npos || head.find(dbl) != std::string_view::npos;
}

struct client_state {
    std::unique_ptr<xmpp_client> conn;
    std::string jid;       // full JID
    std::size_t partner = 0;
    std::uint64_t sent = 0;
    std::atomic<std::uint64_t> received{0};
    std::unique_ptr<asio::steady_timer> wake;  // the writer waits here when its window is full
    bool ready = false;
    std::atomic<bool> synced{false};              // --subscribe-pairs: the server answered the sync ping
    std::atomic<bool> partner_subscribed{false};  // --subscribe-pairs: the partner's subscribed arrived
};

struct shared_state {
    options opt;
    std::vector<std::unique_ptr<client_state>> clients;
    std::atomic<std::size_t> logged_in{0};
    std::atomic<std::size_t> login_errors{0};
    std::atomic<std::size_t> stream_errors{0};
    std::vector<std::vector<std::size_t>> users_of_thread;  // pairs live on one thread: (i / 2) % threads
    std::unique_ptr<std::atomic<std::size_t>[]> next_login;  // per thread, an index into users_of_thread
    std::atomic<bool> sending{false};
    std::atomic<bool> measuring{false};
    std::atomic<std::uint64_t> delivered{0};
    std::vector<std::vector<std::uint32_t>> latencies;  // per thread, microseconds
    std::string first_error;
    std::mutex error_mutex;

    void note_error(const std::string& what) {
        std::lock_guard lock(error_mutex);
        if (first_error.empty()) {
            first_error = what;
            std::fprintf(stderr, "loadgen: first error: %s\n", what.c_str());
        }
    }
};

std::string user_name(const options& o, std::size_t i) { return o.prefix + std::to_string(o.first + i); }

asio::awaitable<void> reader(shared_state& st, std::size_t index, std::size_t thread) {
    auto& me = *st.clients[index];
    std::string error;
    for (;;) {
        std::string stanza = co_await me.conn->next_stanza(error);
        if (!error.empty()) {
            if (st.sending) {
                ++st.stream_errors;
                st.note_error(me.jid + ": " + error);
            }
            co_return;
        }
        if (stanza.starts_with("<iq") && has_attribute(stanza, "id", "sync")) {
            me.synced = true;
            continue;
        }
        if (stanza.starts_with("<presence") && has_attribute(stanza, "type", "subscribed")) {
            me.partner_subscribed = true;
            continue;
        }
        if (!stanza.starts_with("<message")) {
            continue;
        }
        if (const auto stamp = hush::bench::body_stamp(stanza)) {
            me.received.fetch_add(1, std::memory_order_relaxed);
            if (st.measuring) {
                st.delivered.fetch_add(1, std::memory_order_relaxed);
                auto& samples = st.latencies[thread];
                if (samples.size() < 5'000'000) {
                    samples.push_back(static_cast<std::uint32_t>(std::max<std::int64_t>(0, now_us() - *stamp)));
                }
            }
            // The partner may be waiting for room in its window.
            st.clients[me.partner]->wake->cancel();
        }
    }
}

asio::awaitable<void> writer(shared_state& st, std::size_t index) {
    auto& me = *st.clients[index];
    auto& partner = *st.clients[me.partner];
    const std::string to = partner.jid;
    asio::steady_timer pace(co_await asio::this_coro::executor);
    const auto interval = st.opt.rate > 0 ? std::chrono::duration_cast<clock_type::duration>(
                                                std::chrono::duration<double>(1.0 / st.opt.rate))
                                          : clock_type::duration::zero();
    // Paced senders start evenly spread over one interval: all clients sending in the same instant would measure
    // the queue of that burst (hundreds of messages at once), not the latency at the rate asked for.
    auto next = clock_type::now();
    if (st.opt.rate > 0) {
        next += interval * static_cast<long>(index) / static_cast<long>(st.clients.size());
    }
    while (st.sending) {
        if (st.opt.rate > 0) {
            next += interval;
            pace.expires_at(next);
            co_await pace.async_wait(asio::as_tuple(asio::use_awaitable));
        } else if (me.sent - partner.received.load(std::memory_order_relaxed) >= st.opt.window) {
            me.wake->expires_after(std::chrono::seconds(1));
            co_await me.wake->async_wait(asio::as_tuple(asio::use_awaitable));
            continue;
        }
        if (!st.sending) {
            break;
        }
        ++me.sent;
        std::string target = to;
        if (!st.opt.target_prefix.empty()) {
            target = st.opt.target_prefix + std::to_string(random() % st.opt.target_count) + "@" + st.opt.client.domain;
        }
        // A flood's bodies carry no time stamp: receivers count and time only their partners' messages.
        const std::string body = st.opt.target_prefix.empty() ? "t=" + std::to_string(now_us()) : "cheap pills";
        std::string message = "<message type='chat' to='" + target + "' id='m" + std::to_string(me.sent) +
                              "'><body>" + body + "</body></message>";
        if (!(co_await me.conn->send(std::move(message))).empty()) {
            co_return;
        }
    }
}

// Logs in users of one thread, one after the other; `concurrency` of these run at once. Everything of a connection
// happens on its thread's io_context, and pairs share a thread, so a reader can wake its partner's writer directly.
asio::awaitable<void> login_worker(shared_state& st, asio::ssl::context& tls, std::size_t home,
                                   std::vector<std::unique_ptr<asio::io_context>>& loops) {
    const auto& mine = st.users_of_thread[home];
    for (;;) {
        const std::size_t k = st.next_login[home].fetch_add(1);
        if (k >= mine.size()) {
            co_return;
        }
        const std::size_t i = mine[k];
        auto& c = *st.clients[i];
        client_options o = st.opt.client;
        if (!st.opt.sources.empty()) {
            o.source_address = st.opt.sources[i % st.opt.sources.size()];
        }
        c.conn = std::make_unique<xmpp_client>(loops[home]->get_executor(), tls, o);
        c.wake = std::make_unique<asio::steady_timer>(loops[home]->get_executor());
        const std::string user = user_name(st.opt, i);
        std::string error = co_await c.conn->connect();
        if (error.empty() && st.opt.register_first) {
            error = co_await c.conn->register_account(user, st.opt.password);
            if (error.empty()) {
                c.conn->close();
                c.conn = std::make_unique<xmpp_client>(loops[home]->get_executor(), tls, o);
                error = co_await c.conn->connect();
            }
        }
        if (error.empty()) {
            error = co_await c.conn->authenticate(user, st.opt.password);
        }
        if (error.empty()) {
            error = co_await c.conn->bind("load");
        }
        if (error.empty()) {
            error = co_await c.conn->round_trip("<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>",
                                                "roster");
        }
        if (error.empty()) {
            error = co_await c.conn->send("<presence/>");
        }
        if (!error.empty()) {
            ++st.login_errors;
            st.note_error(user + ": " + error);
            c.conn->close();
            continue;
        }
        c.ready = true;
        ++st.logged_in;
        asio::co_spawn(*loops[home], reader(st, i, home), asio::detached);
    }
}

// Sends `make(client)` from every logged-in client on its own loop, then waits (up to a minute) until `done(client)`
// holds for all of them; returns how many it holds for.
template <class Make, class Done>
std::size_t send_and_wait(shared_state& st, std::vector<std::unique_ptr<asio::io_context>>& loops, Make make,
                          Done done) {
    std::vector<std::size_t> ready;
    for (std::size_t i = 0; i < st.clients.size(); ++i) {
        auto& c = *st.clients[i];
        if (!c.ready || !st.clients[c.partner]->ready) {
            continue;
        }
        ready.push_back(i);
        asio::co_spawn(
            *loops[(i / 2) % st.opt.threads],
            [&c, data = make(i)]() -> asio::awaitable<void> { (void)co_await c.conn->send(data); },
            asio::detached);
    }
    const auto deadline = clock_type::now() + std::chrono::minutes(1);
    auto count = [&] {
        return static_cast<std::size_t>(
            std::count_if(ready.begin(), ready.end(), [&](std::size_t i) { return done(*st.clients[i]); }));
    };
    while (count() < ready.size() && clock_type::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the main thread only watches the clients
    }
    return count();
}

// Partners become mutual contacts: each pre-approves the other (RFC 6121 §3.4) and a ping makes sure the server
// has taken that in; then each asks, and the server answers on the pre-approval. Returns the pairs that made it.
std::size_t subscribe_pairs(shared_state& st, std::vector<std::unique_ptr<asio::io_context>>& loops) {
    auto partner_bare = [&](std::size_t i) {
        return user_name(st.opt, st.clients[i]->partner) + "@" + st.opt.client.domain;
    };
    send_and_wait(
        st, loops,
        [&](std::size_t i) {
            return "<presence type='subscribed' to='" + partner_bare(i) + "'/><iq type='get' id='sync' to='" +
                   st.opt.client.domain + "'><ping xmlns='urn:xmpp:ping'/></iq>";
        },
        [](const client_state& c) { return c.synced.load(); });
    const std::size_t subscribed = send_and_wait(
        st, loops, [&](std::size_t i) { return "<presence type='subscribe' to='" + partner_bare(i) + "'/>"; },
        [](const client_state& c) { return c.partner_subscribed.load(); });
    return subscribed / 2;
}

double percentile(std::vector<std::uint32_t>& v, double p) {
    if (v.empty()) {
        return 0;
    }
    const std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k] / 1000.0;  // ms
}

bool parse_args(int argc, char** argv, options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--host") {
            o.client.host = value();
        } else if (a == "--port") {
            o.client.port = static_cast<std::uint16_t>(std::stoi(value()));
        } else if (a == "--domain") {
            o.client.domain = value();
        } else if (a == "--users") {
            o.users = std::stoul(value());
        } else if (a == "--prefix") {
            o.prefix = value();
        } else if (a == "--first") {
            o.first = std::stoul(value());
        } else if (a == "--password") {
            o.password = value();
        } else if (a == "--register") {
            o.register_first = true;
        } else if (a == "--plain") {
            o.client.scram = false;
        } else if (a == "--no-tls") {
            o.client.tls = false;
        } else if (a == "--concurrency") {
            o.concurrency = std::stoul(value());
        } else if (a == "--threads") {
            o.threads = static_cast<unsigned>(std::stoul(value()));
        } else if (a == "--sources") {
            std::string list = value();
            std::size_t start = 0;
            while (start <= list.size()) {
                const auto comma = std::min(list.find(',', start), list.size());
                if (comma > start) {
                    o.sources.push_back(list.substr(start, comma - start));
                }
                start = comma + 1;
            }
        } else if (a == "--hold") {
            o.hold = std::stod(value());
        } else if (a == "--duration") {
            o.duration = std::stod(value());
        } else if (a == "--rate") {
            o.rate = std::stod(value());
        } else if (a == "--window") {
            o.window = std::stoul(value());
        } else if (a == "--scram-cache") {
            o.scram_cache = value();
        } else if (a == "--target-prefix") {
            o.target_prefix = value();
        } else if (a == "--target-count") {
            o.target_count = std::stoul(value());
        } else if (a == "--subscribe-pairs") {
            o.subscribe_pairs = true;
        } else {
            std::fprintf(stderr, "hush-loadgen: unknown option %s (see the comment at the top of bench/loadgen.cpp)\n",
                         a.c_str());
            return false;
        }
    }
    if (!o.target_prefix.empty() && (o.target_count == 0 || o.rate <= 0)) {
        std::fprintf(stderr, "hush-loadgen: --target-prefix needs --target-count and --rate\n");
        return false;
    }
    if (o.users < 2 || o.users % 2 != 0 || o.threads == 0 || o.concurrency == 0) {
        std::fprintf(stderr, "hush-loadgen: --users must be even and at least 2; --threads, --concurrency > 0\n");
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    auto st = std::make_unique<shared_state>();
    if (!parse_args(argc, argv, st->opt)) {
        return 2;
    }
    const options& o = st->opt;
    for (std::size_t i = 0; i < o.users; ++i) {
        auto c = std::make_unique<client_state>();
        c->jid = user_name(o, i) + "@" + o.client.domain + "/load";
        c->partner = i ^ 1;
        st->clients.push_back(std::move(c));
    }
    st->latencies.resize(o.threads);
    if (!o.scram_cache.empty()) {
        hush::bench::load_scram_cache(o.scram_cache);
    }
    st->users_of_thread.resize(o.threads);
    for (std::size_t i = 0; i < o.users; ++i) {
        st->users_of_thread[(i / 2) % o.threads].push_back(i);
    }
    st->next_login = std::make_unique<std::atomic<std::size_t>[]>(o.threads);
    asio::ssl::context tls(asio::ssl::context::tls_client);
    tls.set_verify_mode(asio::ssl::verify_none);  // the servers under test use self-signed certificates
    std::vector<std::unique_ptr<asio::io_context>> loops;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    for (unsigned t = 0; t < o.threads; ++t) {
        loops.push_back(std::make_unique<asio::io_context>(1));
        guards.push_back(asio::make_work_guard(*loops.back()));
    }
    std::vector<std::thread> threads;
    for (auto& loop : loops) {
        threads.emplace_back([&loop] { loop->run(); });
    }

    // Login phase: `concurrency` workers take users in order.
    const auto login_start = clock_type::now();
    const double login_cpu_start = cpu_seconds();
    std::atomic<std::size_t> workers_done{0};
    const std::size_t worker_count = std::max<std::size_t>(o.threads, std::min(o.concurrency, o.users));
    for (std::size_t w = 0; w < worker_count; ++w) {
        const std::size_t t = w % o.threads;
        asio::co_spawn(*loops[t], login_worker(*st, tls, t, loops),
                       [&workers_done](std::exception_ptr) { ++workers_done; });
    }
    while (workers_done < worker_count) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the main thread only watches the workers
    }
    const double login_seconds = std::chrono::duration<double>(clock_type::now() - login_start).count();
    const double login_cpu = cpu_seconds() - login_cpu_start;
    if (!o.scram_cache.empty()) {
        hush::bench::save_scram_cache(o.scram_cache);
    }
    std::fprintf(stderr, "loadgen: ready: %zu logged in (%zu failed) in %.2f s\n", st->logged_in.load(),
                 st->login_errors.load(), login_seconds);
    std::fflush(stderr);
    std::size_t subscribed_pairs = 0;
    if (o.subscribe_pairs) {
        subscribed_pairs = subscribe_pairs(*st, loops);
        std::fprintf(stderr, "loadgen: %zu pair(s) are mutual contacts\n", subscribed_pairs);
    }
    if (o.hold > 0) {
        std::this_thread::sleep_for(std::chrono::duration<double>(o.hold));
    }

    // Message phase: a short warm-up, then measured.
    std::size_t pairs = 0;
    if (o.duration > 0) {
        st->sending = true;
        for (std::size_t i = 0; i < o.users; ++i) {
            auto& c = *st->clients[i];
            if (c.ready && st->clients[c.partner]->ready) {
                pairs += i % 2 == 0 ? 1 : 0;
                asio::co_spawn(*loops[(i / 2) % o.threads], writer(*st, i), asio::detached);
            }
        }
        std::this_thread::sleep_for(std::chrono::duration<double>(std::min(1.0, o.duration / 5)));
        std::fprintf(stderr, "loadgen: measuring\n");
        std::fflush(stderr);
        st->measuring = true;
        const auto measure_start = clock_type::now();
        const double cpu_start = cpu_seconds();
        std::this_thread::sleep_for(std::chrono::duration<double>(o.duration));
        st->measuring = false;
        const double measured = std::chrono::duration<double>(clock_type::now() - measure_start).count();
        const double generator_cpu = cpu_seconds() - cpu_start;
        std::fprintf(stderr, "loadgen: measured\n");
        std::fflush(stderr);
        st->sending = false;
        std::vector<std::uint32_t> all;
        for (auto& v : st->latencies) {
            all.insert(all.end(), v.begin(), v.end());
        }
        boost::json::object out{{"users", o.users},
                                 {"logged_in", st->logged_in.load()},
                                 {"login_errors", st->login_errors.load()},
                                 {"login_seconds", login_seconds},
                                 {"logins_per_second", st->logged_in.load() / login_seconds},
                                 {"pairs", pairs},
                                 {"delivered", st->delivered.load()},
                                 {"messages_per_second", st->delivered.load() / measured},
                                 {"p50_ms", percentile(all, 0.50)},
                                 {"p99_ms", percentile(all, 0.99)},
                                 {"p999_ms", percentile(all, 0.999)},
                                 {"stream_errors", st->stream_errors.load()},
                                 {"login_generator_cpu_s", login_cpu},
                                 {"generator_cpu_s", generator_cpu},
                                 {"generator_cpu_percent", 100.0 * generator_cpu / measured},
                                 {"subscribed_pairs", subscribed_pairs},
                                 {"first_error", st->first_error}};
        std::printf("%s\n", boost::json::serialize(out).c_str());
    } else {
        boost::json::object out{{"users", o.users},
                                {"logged_in", st->logged_in.load()},
                                {"login_errors", st->login_errors.load()},
                                {"login_seconds", login_seconds},
                                {"logins_per_second", st->logged_in.load() / login_seconds},
                                {"login_generator_cpu_s", login_cpu},
                                {"login_generator_cpu_percent", 100.0 * login_cpu / login_seconds},
                                {"subscribed_pairs", subscribed_pairs},
                                {"first_error", st->first_error}};
        std::printf("%s\n", boost::json::serialize(out).c_str());
    }
    std::fflush(stdout);
    // Closing: each connection on its own loop.
    for (std::size_t i = 0; i < o.users; ++i) {
        auto& c = *st->clients[i];
        if (c.conn) {
            asio::post(*loops[(i / 2) % o.threads], [&c] { c.conn->close(); });
        }
    }
    guards.clear();
    for (auto& loop : loops) {
        asio::post(*loop, [&loop] { loop->stop(); });
    }
    for (auto& t : threads) {
        t.join();
    }
    return st->logged_in == o.users ? 0 : 1;
}
