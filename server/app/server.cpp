#include "server/app/server.hpp"

#include "protocol/bookmarks.hpp"
#include "server/pubsub/caps_cache.hpp"
#include "server/push/push_service.hpp"
#include "server/sm/resumption_registry.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>
#include <filesystem>
#include <future>
#include <stdexcept>

#include "server/stream/certificate.hpp"
#include "server/stream/supervised.hpp"
#include "server/stream/test_hooks.hpp"

#ifndef HUSH_VERSION
#define HUSH_VERSION "0.1.0"
#endif

namespace hush {

namespace asio = boost::asio;

namespace {

// The caps cache's bounds: distinct client versions are few; available JIDs are many more.
constexpr std::size_t caps_max_vers = 10000;
constexpr std::size_t caps_max_jids = 100000;

unsigned thread_count(unsigned configured) {
    if (configured > 0) {
        return configured;
    }
    return std::max(1u, std::thread::hardware_concurrency());
}

std::vector<std::unique_ptr<asio::io_context>> make_loops(unsigned n) {
    std::vector<std::unique_ptr<asio::io_context>> loops;
    for (unsigned i = 0; i < n; ++i) {
        loops.push_back(std::make_unique<asio::io_context>(1));  // one thread each: no locking inside
    }
    return loops;
}

}  // namespace

server::server(config cfg)
    : cfg_(std::move(cfg)),
      loops_(make_loops(thread_count(cfg_.threads))),
      connections_(cfg_.limits.max_connections_per_ip),
      throttle_(cfg_.limits.auth_failures_before_delay),
      signals_(std::make_unique<asio::signal_set>(*loops_.front(), SIGINT, SIGTERM, SIGHUP)) {
    std::filesystem::create_directories(cfg_.data_dir);
    store_ = std::make_unique<storage::async_store>(cfg_.storage);

    auto cert = cfg_.tls.certificate;
    auto key = cfg_.tls.key;
    if (cert.empty()) {
        auto generated = ensure_self_signed(cfg_.data_dir, cfg_.hosts);
        cert = generated.certificate;
        key = generated.key;
        spdlog::warn("tls: using a self-signed certificate ({}){}; clients will ask to trust it. Set "
                     "[tls] certificate and key for production.",
                     cert.string(), generated.generated ? ", generated now" : "");
    }
    tls_ = std::make_unique<tls_context_provider>(cert, key, cfg_.tls.min_version);
    server_secret_ = ensure_server_secret(cfg_.data_dir / "secret");
    const auto is_local = [this](std::string_view domain) {
        return std::find(cfg_.hosts.begin(), cfg_.hosts.end(), domain) != cfg_.hosts.end();
    };
    using state_map = antispim::state_metrics::map;

    // The anti-SPIM layer, each part built with what it uses (antispim/ never sees the router: what it wants sent
    // comes back to the router in an `outgoing`).
    greylist_ = std::make_unique<greylist>(cfg_.antispim.greylist, greylist::default_max_entries,
                                           state_metrics_.counter(state_map::greylist));
    blocklist_ = std::make_unique<blocklist_service>(cfg_.antispim, cfg_.storage, cfg_.s2s.ca_file.string(), *store_,
                                                     greylist_.get());
    admins_ = std::make_unique<admin_notifier>(cfg_.hosts.front(), cfg_.admins);
    evidence_ = std::make_unique<antispim::challenge_evidence>(cfg_.antispim.dos.evidence_window,
                                                               antispim::challenge_evidence::default_max_keys,
                                                               state_metrics_.counter(state_map::evidence));
    dos_ = std::make_unique<dos_detector>(cfg_.antispim, *store_, *blocklist_, *evidence_, is_local,
                                          dos_detector::default_max_keys, state_metrics_.counter(state_map::dos),
                                          admins_.get());
    consensus_ = std::make_unique<consensus>(cfg_.antispim, *store_, *blocklist_, *admins_, is_local);
    antispim_ = std::make_unique<antispim_service>(
        cfg_.antispim, *store_, is_local, consensus_.get(),
        [list = blocklist_.get()](const antispim::spim_context& ctx) {
            return list->listed_for_challenge(ctx.sender, ctx.peer_address);
        },
        evidence_.get(), [this](bool spam, std::string text) { content_->learn_later(spam, std::move(text)); });
    content_ = std::make_unique<antispim::content_service>(
        cfg_.antispim, *store_, server_secret_,
        antispim::sender_signal_source(cfg_.antispim, *store_, *blocklist_, *antispim_, *dos_),
        [this](const antispim::spim_context& ctx) { return antispim_->hold_quietly(ctx); }, loops_.front()->get_executor());
    rtbl_ = std::make_unique<rtbl_service>(cfg_.antispim, cfg_.hosts.front(), *blocklist_);
    outbound_ = std::make_unique<outbound_guard>(cfg_.antispim, *store_, *admins_, *antispim_,
                                                 outbound_guard::default_max_accounts,
                                                 state_metrics_.counter(state_map::outbound));
    rate_ = std::make_unique<rate_limiter>(cfg_.antispim.rate, is_local, token_buckets::default_max_buckets,
                                           state_metrics_.counter(state_map::rate));
    chain_ = antispim::chain::build(cfg_.antispim,
                                    {{"challenge", [this] { return antispim_->make_challenge_policy(); }},
                                     {"blocklist", [this] { return blocklist_->make_policy(); }},
                                     {"dos", [this] { return dos_->make_policy(); }},
                                     {"greylist", [this] { return greylist_->make_policy(); }},
                                     {"rate", [this] { return rate_->make_policy(); }},
                                     {"content", [this] { return content_->make_policy(); }}});
    // The IM services and the iq handlers (server/im), registration (server/registration).
    registration_ = std::make_unique<registration_service>(cfg_, *store_, admins_.get());
    invite_command_ = std::make_unique<invite_command>(cfg_, *store_);
    approval_command_ = std::make_unique<approval_command>(cfg_, *store_);
    std::vector<std::pair<std::string, std::string>> more_commands;
    if (cfg_.registration.mode == registration_mode::open && cfg_.registration.approval && !cfg_.admins.empty()) {
        more_commands.emplace_back(approval_command::node, approval_command::name);
    }
    if (cfg_.registration.mode != registration_mode::closed && cfg_.registration.invites_per_user > 0) {
        more_commands.emplace_back(invite_command::node, invite_command::name);
    }
    antispim_commands_ = std::make_unique<antispim_commands>(*antispim_, is_local, std::move(more_commands));

    // XEP-0115: the caps of the available JIDs the PEP services hear presence from (they ask; it keeps).
    caps_ = std::make_unique<caps_cache>(caps_max_vers, caps_max_jids);
    im_ctx_ = std::make_unique<im_context>(im_context{*store_, registry_, cfg_.limits.max_offline_messages});
    push_ = std::make_unique<push_service>(*store_, cfg_.push, cfg_.hosts);
    // XEP-0060/0163: every account's PEP nodes and the service at [pubsub] service.
    pubsub_ = std::make_unique<pubsub_engine>(*store_, cfg_.pubsub, cfg_.hosts, cfg_.admins, registry_,
                                              caps_.get());
    im_ = std::make_unique<im_core>(*im_ctx_, registration_.get(), push_.get(), cfg_.pubsub.enabled ? pubsub_.get() : nullptr);
    account_services_ = std::make_unique<account_services>(
        *store_,
        [this](const jid& bare) { return registry_.any_available(bare); },
        [im = im_.get()](const jid& account, const jid& requester) { return im->may_see_presence(account, requester); },
        std::chrono::steady_clock::now());
    // XEP-0313: the archive the router writes as it delivers, and the account's own queries of it.
    archiver_ = std::make_unique<archiver>(cfg_.mam, *store_);
    {
        // Ids go on from the highest stored one: never back after a restart, whatever the clock did meanwhile.
        asio::io_context init;
        auto loaded = asio::co_spawn(init, archiver_->load_last_id(), asio::use_future);
        init.run();
        if (!loaded.get()) {
            throw std::runtime_error("cannot read the message archive's last id");
        }
    }
    if (cfg_.muc.enabled && !cfg_.muc.services.empty()) {
        // XEP-0045: the persistent rooms are read before anything can reach them.
        muc_ = std::make_unique<muc_service>(*store_, cfg_.muc, cfg_.hosts, cfg_.admins, server_secret_);
        asio::io_context init;
        auto loaded = asio::co_spawn(init, muc_->load(), asio::use_future);
        init.run();
        if (!loaded.get()) {
            throw std::runtime_error("cannot read the chat rooms");
        }
    }
    if (cfg_.upload.enabled && !cfg_.upload.services.empty()) {
        // XEP-0363: the files' directory exists before the first slot is given.
        std::error_code ec;
        std::filesystem::create_directories(cfg_.upload.directory, ec);
        if (ec) {
            throw std::runtime_error("cannot create the upload directory " + cfg_.upload.directory.string() + ": " +
                                     ec.message());
        }
        upload_ = std::make_unique<upload_service>(*store_, cfg_.upload, [this] { return upload_base_url(); });
    }
    registration_->on_removal(
        {[this](const jid&) -> asio::awaitable<void> { co_await archiver_->flush(); },
         [this](const jid& account) {
             archiver_->account_removed(account);
             if (muc_) {
                 muc_->account_removed(account);  // storage deleted its affiliations with the account
             }
         }});
    // A page's results take at most half a session's outbox.
    mam_queries_ = std::make_unique<mam_queries>(cfg_.mam, *store_, *archiver_, cfg_.limits.max_outbox_bytes / 2);
    if (muc_ && cfg_.mam.enabled) {
        // XEP-0313 §6: rooms keep their archives in the message archive, under the room's JID.
        muc_->set_archive(
            {[this](const jid& room, const jid& occupant, std::string xml) {
                 return archiver_->append_room(room, occupant, std::move(xml));
             },
             [this](const stanza& iq, const jid& room, const jid& requester, bool local, outgoing& out) {
                 return mam_queries_->room_query(iq, room, requester, local, out);
             },
             [this](const jid& room) { return archiver_->purge_room(room); }});
    }
    auto account_features = account_services::features();
    account_features.emplace_back("jabber:iq:register");
    handlers_ = std::make_unique<server_handlers>(
        HUSH_VERSION,
        std::vector<server_handlers::extension>{
            // XEP-0377 against a room's occupant: the room's moderators hear of it (only observed; the block itself
            // is the IM core's).
            {[this](const stanza& iq, const jid& addressed, outgoing& out) -> asio::awaitable<std::optional<stanza>> {
                 report_to_room(iq, addressed, out);
                 co_return std::nullopt;
             },
             {},
             {}},
            // First, so that <challenge/> inside jabber:iq:privacy is answered here, not by the privacy lists.
            {[svc = antispim_.get()](const stanza& iq, const jid& addressed, outgoing& out) {
                 return svc->handle_iq(iq, addressed, out);
             },
             {std::string(reporting_ns)},
             antispim_service::account_features()},
            {[command = invite_command_.get()](const stanza& iq, const jid& addressed, outgoing& out) {
                 return command->handle_iq(iq, addressed, out);
             },
             {},
             {}},
            {[command = approval_command_.get()](const stanza& iq, const jid& addressed, outgoing& out) {
                 return command->handle_iq(iq, addressed, out);
             },
             {},
             {}},
            {[commands = antispim_commands_.get()](const stanza& iq, const jid& addressed, outgoing& out) {
                 return commands->handle_iq(iq, addressed, out);
             },
             {std::string(antispim_commands::commands_ns)},
             {}},
            {[im = im_.get()](const stanza& iq, const jid& addressed, outgoing& out) {
                 return im->handle_iq(iq, addressed, out);
             },
             im_core::server_features(),
             im_core::account_features()},
            {[push = push_.get()](const stanza& iq, const jid& addressed, outgoing&) {
                 return push->handle(iq, addressed);
             },
             {},
             cfg_.push.enabled ? std::vector<std::string>{std::string(push::push_ns)} : std::vector<std::string>{}},
            // Before private storage: XEP-0048 bookmarks there are the XEP-0402 PEP node (XEP-0402 §5.3).
            {[this](const stanza& iq, const jid& addressed, outgoing& out) {
                 return pubsub_->legacy_bookmarks(iq, addressed, out);
             },
             {},
             cfg_.pubsub.enabled ? std::vector<std::string>{std::string(bookmarks::compat_feature)}
                                 : std::vector<std::string>{}},
            {[this](const stanza& iq, const jid& addressed, outgoing& out) { return account_request(iq, addressed, out); },
             std::move(account_features),
             {"jabber:iq:last", "vcard-temp"}},
            {[queries = mam_queries_.get()](const stanza& iq, const jid& addressed, outgoing& out) {
                 return queries->handle_iq(iq, addressed, out);
             },
             {},
             cfg_.mam.enabled ? mam_queries::account_features() : std::vector<std::string>{}},
            {[this](const stanza& iq, const jid& addressed, outgoing& out) { return service_request(iq, addressed, out); },
             cfg_.pubsub.enabled ? pubsub_engine::service_features() : std::vector<std::string>{},
             cfg_.pubsub.enabled ? pubsub_engine::account_features() : std::vector<std::string>{},
             cfg_.pubsub.enabled ? std::vector<std::string>{"pubsub/pep"} : std::vector<std::string>{}},
        });
    accounts_ = std::make_unique<storage_account_directory>(*store_);

    // Federation, then the pipeline that hands it remote stanzas (with itself as where their bounces go).
    s2s_ = std::make_unique<s2s_manager>(
        s2s_context{cfg_, *tls_, connections_, server_secret_, &state_metrics_}, [this] { return next_executor(); });
    router_links links;
    links.im = im_.get();
    links.strangers = antispim_.get();
    links.outbound = outbound_.get();
    links.inboxes = {rtbl_.get()};
    links.recent = &verdicts_;
    links.remote = s2s_.get();
    links.mam = archiver_.get();
    links.pubsub = cfg_.pubsub.enabled ? pubsub_.get() : nullptr;
    links.muc = muc_.get();
    links.upload = upload_.get();
    // The services' domains are this server's too: stanzas to them are answered here, not federated.
    std::vector<std::string> routed_domains = cfg_.hosts;
    if (cfg_.pubsub.enabled && !cfg_.pubsub.service.empty()) {
        routed_domains.push_back(cfg_.pubsub.service);
    }
    if (muc_) {
        routed_domains.insert(routed_domains.end(), cfg_.muc.services.begin(), cfg_.muc.services.end());
    }
    if (upload_) {
        routed_domains.insert(routed_domains.end(), cfg_.upload.services.begin(), cfg_.upload.services.end());
    }
    router_ = std::make_unique<router>(std::move(routed_domains), registry_, *accounts_, *chain_, *handlers_, links);
    if (cfg_.pubsub.enabled && !pubsub_->service_domain().empty() && cfg_.antispim.publish.rtbl) {
        // [antispim.publish] as RTBL nodes on the service; the notifications go out through the router.
        pubsub_->reserve_nodes({rtbl_publication::nodes.begin(), rtbl_publication::nodes.end()});
        rtbl_publisher_ = std::make_unique<rtbl_publisher>(
            *pubsub_, [list = blocklist_.get()] { return list->published_entries(); },
            [list = blocklist_.get()] { return list->generation(); },
            [r = router_.get()](outgoing out) { return r->carry_out(std::move(out)); });
    }

    // What sessions share, the HTTP endpoint and the listeners.
    ctx_ = std::make_unique<server_context>(server_context{cfg_, registry_, *router_, *store_, *tls_, throttle_,
                                                           connections_, server_secret_, handlers_->caps_ver(),
                                                           registration_.get(), &state_metrics_});
    if (cfg_.stream_management.enabled) {
        resumptions_ = std::make_unique<sm::resumption_registry>(cfg_.stream_management.max_detached,
                                                              cfg_.stream_management.max_detached_per_account);
        ctx_->resumptions = resumptions_.get();
    }
    http_ = std::make_unique<http_api>(*ctx_, *blocklist_, *chain_, verdicts_,
                                       metrics_sources{consensus_.get(), outbound_.get(), evidence_.get(), content_.get(),
                                                       [s2s = s2s_.get()] { return s2s->stream_count(); },
                                                       [caps = caps_.get()] { return caps->vers(); }},
                                       muc_.get(), upload_.get());
    for (const auto& where : cfg_.listeners) {
        listeners_.push_back(std::make_unique<listener>(loops_.front()->get_executor(), where, *ctx_, *s2s_, *http_,
                                                        [this] { return next_executor(); }));
    }
}

server::~server() = default;

asio::any_io_executor server::next_executor() {
    const auto i = next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size();
    return loops_[i]->get_executor();
}

int server::run() {
    test_hooks::announce();
    for (auto& l : listeners_) {
        l->start();
        std::printf("hushd: listening %s %s:%u\n", std::string(l->kind_name()).c_str(),
                    cfg_.listeners[static_cast<std::size_t>(&l - listeners_.data())].address.c_str(), l->port());
        spdlog::info("listening {} on port {}", l->kind_name(), l->port());
    }
    std::function<void()> wait_signal;
    wait_signal = [this, &wait_signal] {
        signals_->async_wait([this, &wait_signal](const boost::system::error_code& ec, int signo) {
            if (ec) {
                return;
            }
            if (signo == SIGHUP) {
                // One-shot: a failure is logged, and the periodic reload below tries again.
                spawn_supervised(loops_.front()->get_executor(), "blocklist reload on SIGHUP", blocklist_->reload());
                spawn_supervised(loops_.front()->get_executor(), "content model and URL lists reload on SIGHUP",
                                 content_->reload());
                const auto err = tls_->reload();
                if (err.empty()) {
                    spdlog::info("SIGHUP: TLS certificate reloaded");
                } else {
                    spdlog::error("SIGHUP: TLS certificate not reloaded, keeping the old one: {}", err);
                }
                wait_signal();
                return;
            }
            spdlog::info("signal {}: shutting down", signo);
            shutdown();
        });
    };
    wait_signal();
    // The background loops below are restarted when they fail (spawn_supervised_loop): a blocklist that stops
    // following its sources, or state that is never swept again, is worse than a logged error and a retry.
    const auto keep_going = [this] { return !stopping_; };
    // Each [[antispim.import]] source, polled with If-None-Match until shutdown.
    for (const auto& source : cfg_.antispim.imports) {
        spawn_supervised_loop(
            loops_.front()->get_executor(), "blocklist import from " + source.url,
            [this, source] { return blocklist_->follow(source, stopping_); }, keep_going);
    }
    // Each [[antispim.rtbl]] service: subscribe, fetch, resync until shutdown.
    for (std::size_t i = 0; i < cfg_.antispim.rtbls.size(); ++i) {
        spawn_supervised_loop(
            loops_.front()->get_executor(), "real-time blocklist " + cfg_.antispim.rtbls[i].service,
            [this, i] { return rtbl_->follow(i, stopping_, *router_); }, keep_going);
    }
    // The published blocklist as RTBL nodes on the pubsub service, in step with the list.
    if (rtbl_publisher_) {
        spawn_supervised_loop(
            loops_.front()->get_executor(), "real-time blocklist publication on " + pubsub_->service_domain(),
            [this] { return rtbl_publisher_->run(stopping_); }, keep_going);
    }
    // XEP-0045: visitors whose waiting period ended get voice ([muc] new_occupants_visitors).
    if (muc_ && cfg_.muc.new_occupants_visitors) {
        spawn_supervised_loop(
            loops_.front()->get_executor(), "chat room visitors",
            [this]() -> asio::awaitable<void> {
                asio::steady_timer timer(*loops_.front());
                while (!stopping_) {
                    timer.expires_after(std::chrono::seconds(5));
                    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
                    if (ec || stopping_) {
                        break;
                    }
                    outgoing out;
                    muc_->tick(out);
                    co_await router_->carry_out(std::move(out));
                }
            },
            keep_going);
    }
    // XEP-0045: hushctl closes rooms and bans JIDs in the database; hushd picks that up (muc_sync.cpp).
    if (muc_) {
        spawn_supervised_loop(
            loops_.front()->get_executor(), "chat room sync with storage",
            [this]() -> asio::awaitable<void> {
                asio::steady_timer timer(*loops_.front());
                while (!stopping_) {
                    timer.expires_after(std::chrono::seconds(10));
                    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
                    if (ec || stopping_) {
                        break;
                    }
                    outgoing out;
                    co_await muc_->sync_from_storage(out);
                    co_await router_->carry_out(std::move(out));
                }
            },
            keep_going);
    }
    // XEP-0363: expired slots and files, and files without a slot (at start, then every minute).
    if (upload_) {
        spawn_supervised_loop(
            loops_.front()->get_executor(), "upload sweeper",
            [this]() -> asio::awaitable<void> {
                asio::steady_timer timer(*loops_.front());
                while (!stopping_) {
                    co_await upload_->sweep();
                    timer.expires_after(upload_service::sweep_every);
                    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
                    if (ec || stopping_) {
                        break;
                    }
                }
            },
            keep_going);
    }
    // hushctl edits the blocklist in the database: pick its changes up now and then.
    spawn_supervised_loop(
        loops_.front()->get_executor(), "periodic blocklist reload",
        [this]() -> asio::awaitable<void> {
            asio::steady_timer timer(*loops_.front());
            while (!stopping_) {
                timer.expires_after(blocklist_service::reload_every);
                auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
                if (ec || stopping_) {
                    break;
                }
                co_await blocklist_->reload();
            }
        },
        keep_going);
    // The content policy's Bayes model, read at start and again every few minutes (hushctl content train writes
    // to storage, not to hushd), and its URL lists on SIGHUP.
    spawn_supervised_loop(
        loops_.front()->get_executor(), "content model reload",
        [this]() -> asio::awaitable<void> {
            asio::steady_timer timer(*loops_.front());
            while (!stopping_) {
                co_await content_->reload(false);
                timer.expires_after(std::chrono::minutes(5));
                auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
                if (ec || stopping_) {
                    break;
                }
            }
        },
        keep_going);
    // The one sweeper of anti-SPIM state: expired held stanzas, challenge states, contact notes (at start, then
    // every sweep_interval).
    spawn_supervised_loop(
        loops_.front()->get_executor(), "anti-SPIM sweeper",
        [this]() -> asio::awaitable<void> {
            asio::steady_timer timer(*loops_.front());
            while (!stopping_) {
                co_await antispim_->sweep();
                timer.expires_after(cfg_.antispim.sweep_interval);
                auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
                if (ec || stopping_) {
                    break;
                }
            }
        },
        keep_going);
    // XEP-0313 retention and the per-account cap (at start, then every [mam] sweep_interval).
    if (cfg_.mam.enabled && (cfg_.mam.retention_days > 0 || cfg_.mam.max_items_per_user > 0)) {
        spawn_supervised_loop(
            loops_.front()->get_executor(), "archive sweeper",
            [this]() -> asio::awaitable<void> {
                asio::steady_timer timer(*loops_.front());
                while (!stopping_) {
                    co_await archiver_->sweep();
                    timer.expires_after(cfg_.mam.sweep_interval);
                    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
                    if (ec || stopping_) {
                        break;
                    }
                }
            },
            keep_going);
    }

    for (auto& loop : loops_) {
        guards_.push_back(asio::make_work_guard(*loop));
    }
    for (std::size_t i = 1; i < loops_.size(); ++i) {
        threads_.emplace_back([loop = loops_[i].get()] { loop->run(); });
    }
    spdlog::info("hushd {} ready: {} event-loop thread(s), hosts {}", HUSH_VERSION, loops_.size(),
                 fmt::join(cfg_.hosts, ", "));
    std::printf("hushd: ready\n");
    std::fflush(stdout);
    // The main thread runs loop 0; shutdown() stops the loops once every session has closed (or time is up).
    loops_.front()->run();
    for (auto& t : threads_) {
        t.join();
    }
    // Archive items still queued behind delivery are written before the storage closes.
    {
        asio::io_context last;
        asio::co_spawn(last, archiver_->write_remaining(), asio::detached);
        last.run();
    }
    // Storage work still queued posts into the stopped loops; only then may the loops (and with them any session
    // a pending handler still holds) be destroyed, while the registry and tracker they use are still alive.
    store_->shutdown();
    guards_.clear();
    listeners_.clear();
    signals_.reset();
    for (auto& loop : loops_) {
        loop.reset();
    }
    spdlog::info("hushd stopped");
    return 0;
}

void server::shutdown() {
    if (stopping_) {
        return;
    }
    stopping_ = true;
    archiver_->close();  // a delivery waiting for room in the archive queue goes on, and write_remaining() writes it
    signals_->cancel();
    s2s_->close_all();  // no new outgoing streams; the open ones close with every other connection below
    for (auto& l : listeners_) {
        l->stop();
    }
    auto finish = std::make_shared<asio::steady_timer>(*loops_.front(), std::chrono::seconds(5));
    auto done = [this, finish] {
        asio::post(*loops_.front(), [finish] {
            finish->cancel();
        });
    };
    connections_.on_empty(done);
    const auto sessions = connections_.all();
    spdlog::info("closing {} connection(s)", sessions.size());
    for (const auto& s : sessions) {
        s->close(stream_error{"system-shutdown", "the server is shutting down"});
    }
    finish->async_wait([this, finish](const boost::system::error_code&) {
        if (connections_.size() > 0) {
            spdlog::warn("{} connection(s) did not close in time", connections_.size());
        }
        connections_.on_empty(nullptr);
        guards_.clear();
        for (auto& loop : loops_) {
            loop->stop();
        }
    });
    if (connections_.size() == 0) {
        finish->cancel();
    }
}

}  // namespace hush
