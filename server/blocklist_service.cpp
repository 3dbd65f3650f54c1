#include "server/blocklist_service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <sstream>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <pugixml.hpp>

#include "storage/store.hpp"

namespace hush {

namespace asio = boost::asio;
namespace as = antispim;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

std::int64_t now_unix() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class blocklist_policy final : public as::policy {
public:
    explicit blocklist_policy(blocklist_service& service) : service_(service) {}
    std::string_view name() const override { return "blocklist"; }

    asio::awaitable<hush::expected<as::verdict, as::policy_failure>> evaluate(const as::spim_context& ctx) override {
        using result = hush::expected<as::verdict, as::policy_failure>;
        const auto list = service_.current();
        const storage::blocklist_entry* entry = list->match(ctx.sender, ctx.peer_address, now_unix());
        if (entry == nullptr || (!ctx.stranger && !entry->contacts_too)) {
            co_return result(as::verdict::pass());
        }
        const auto path = as::path_of(ctx.stanza);
        if (path == as::stranger_path::none) {
            co_return result(as::verdict::pass());
        }
        as::verdict v;
        v.kind = path == as::stranger_path::directed_presence ? as::verdict_kind::drop : as::verdict_kind::reject;
        v.reason = "blocked-" + entry->kind + ":" + entry->value;
        v.error_condition = "policy-violation";
        v.error_text = "blocked on this server (" + entry->kind + " " + entry->value + "): " + entry->reason;
        co_return result(std::move(v));
    }

private:
    blocklist_service& service_;
};

}  // namespace

blocklist_service::blocklist_service(const config& cfg, storage::async_store& store) : cfg_(cfg), store_(store) {
    auto connection = storage::open_store(cfg.storage);
    if (auto migrated = connection->migrate(); !migrated) {
        throw std::runtime_error("cannot prepare the database: " + migrated.error().message);
    }
    auto entries = connection->list_blocklist(now_unix());
    if (!entries) {
        throw std::runtime_error("cannot read the server blocklist: " + entries.error().message);
    }
    install(std::move(*entries));
}

std::shared_ptr<const as::blocklist> blocklist_service::current() const {
    std::lock_guard lock(mutex_);
    return current_;
}

void blocklist_service::install(std::vector<storage::blocklist_entry> entries) {
    std::lock_guard lock(mutex_);
    local_ = std::move(entries);
    const std::size_t count = local_.size();
    spdlog::log(count != last_count_ ? spdlog::level::info : spdlog::level::debug,
                "antispim: blocklist loaded, {} entr{}", count, count == 1 ? "y" : "ies");
    last_count_ = count;
    rebuild();
}

void blocklist_service::rebuild() {
    std::vector<storage::blocklist_entry> all = local_;
    for (const auto& [url, entries] : imported_) {
        for (const auto& e : entries) {
            // A local entry for the same value wins (it may say contacts_too, or expire differently).
            const bool shadowed = std::any_of(local_.begin(), local_.end(), [&](const storage::blocklist_entry& l) {
                return l.kind == e.kind && l.value == e.value;
            });
            if (!shadowed) {
                all.push_back(e);
            }
        }
    }
    current_ = std::make_shared<const as::blocklist>(std::move(all), now_unix());
}

std::vector<storage::blocklist_entry> blocklist_service::local_entries() const {
    std::lock_guard lock(mutex_);
    const auto now = now_unix();
    std::vector<storage::blocklist_entry> out;
    for (const auto& e : local_) {
        if (e.expires_at == 0 || e.expires_at > now) {
            out.push_back(e);
        }
    }
    return out;
}

asio::awaitable<void> blocklist_service::reload() {
    auto list = [now = now_unix()](storage::store& s) { return s.list_blocklist(now); };
    auto entries = co_await store_.run(std::move(list));
    if (!entries) {
        spdlog::error("antispim: cannot reload the blocklist, keeping the old one: {}", entries.error().message);
        co_return;
    }
    install(std::move(*entries));
}

std::unique_ptr<as::policy> blocklist_service::make_policy() { return std::make_unique<blocklist_policy>(*this); }

// ---- following other servers' lists -------------------------------------------------------------------------------

hush::expected<std::vector<storage::blocklist_entry>, std::string> blocklist_service::parse_import(
    const std::string& format, const std::string& body, const std::string& url, std::int64_t now) {
    std::vector<storage::blocklist_entry> out;
    auto add = [&](const std::string& kind, const std::string& value, std::string reason, std::int64_t expires) {
        auto normalized = as::normalize_blocklist_value(kind, value);
        if (!normalized) {
            return;  // one bad line must not cost the rest of the list
        }
        out.push_back({kind, *normalized, std::move(reason), "import:" + url, now, expires, false});
    };
    if (format == "domains") {
        std::istringstream in(body);
        std::string line;
        while (std::getline(in, line)) {
            const auto hash = line.find('#');
            line = line.substr(0, hash);
            const auto b = line.find_first_not_of(" \t\r");
            const auto e = line.find_last_not_of(" \t\r");
            if (b != std::string::npos) {
                add("domain", line.substr(b, e - b + 1), "listed by " + url, 0);
            }
        }
        return out;
    }
    pugi::xml_document doc;
    if (!doc.load_buffer(body.data(), body.size())) {
        return hush::unexpected<std::string>("not well-formed XML");
    }
    const auto root = doc.document_element();
    if (std::string_view(root.name()) != "blocklist" ||
        std::string_view(root.attribute("xmlns").value()) != "urn:hush:blocklist:0") {
        return hush::unexpected<std::string>("not a urn:hush:blocklist:0 <blocklist/>");
    }
    for (auto entry : root.children("entry")) {
        std::int64_t expires = 0;
        if (const std::string_view text = entry.attribute("expires").value(); !text.empty()) {
            std::tm tm{};
            if (strptime(std::string(text).c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) == nullptr) {
                continue;
            }
            expires = timegm(&tm);
            if (expires <= now) {
                continue;
            }
        }
        add(entry.attribute("type").value(), entry.attribute("value").value(), entry.attribute("reason").value(),
            expires);
    }
    return out;
}

void blocklist_service::start_imports(asio::any_io_executor executor, const std::atomic<bool>& stopping) {
    for (const auto& source : cfg_.antispim.imports) {
        asio::co_spawn(executor, follow(source, stopping), asio::detached);
    }
}

asio::awaitable<void> blocklist_service::follow(antispim_config::import_source source,
                                                const std::atomic<bool>& stopping) {
    namespace beast = boost::beast;
    namespace http = beast::http;
    const auto executor = co_await asio::this_coro::executor;
    // http://host[:port]/path
    const std::string rest = source.url.substr(std::string_view("http://").size());
    const auto slash = rest.find('/');
    const std::string authority = rest.substr(0, slash);
    const std::string target = slash == std::string::npos ? "/" : rest.substr(slash);
    const auto colon = authority.rfind(':');
    const std::string host = colon == std::string::npos ? authority : authority.substr(0, colon);
    const std::string port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
    std::string etag;
    asio::steady_timer pause(executor);
    while (!stopping) {
        asio::ip::tcp::resolver resolver(executor);
        auto [rec, results] = co_await resolver.async_resolve(host, port, tuple_awaitable);
        std::string failure;
        if (rec) {
            failure = "cannot resolve " + host + ": " + rec.message();
        } else {
            beast::tcp_stream stream(executor);
            stream.expires_after(std::chrono::seconds(20));
            auto [cec, endpoint] = co_await stream.async_connect(results, tuple_awaitable);
            if (cec) {
                failure = "cannot connect: " + cec.message();
            } else {
                http::request<http::empty_body> req{http::verb::get, target, 11};
                req.set(http::field::host, authority);
                req.set(http::field::user_agent, "Hush blocklist importer");
                if (!etag.empty()) {
                    req.set(http::field::if_none_match, etag);
                }
                auto [wec, written] = co_await http::async_write(stream, req, tuple_awaitable);
                beast::flat_buffer buffer;
                http::response_parser<http::string_body> parser;
                parser.body_limit(4 * 1024 * 1024);
                auto [rec2, read] = wec ? std::make_tuple(wec, std::size_t{0})
                                        : co_await http::async_read(stream, buffer, parser, tuple_awaitable);
                if (rec2) {
                    failure = "cannot read the answer: " + rec2.message();
                } else {
                    auto res = parser.release();
                    if (res.result() == http::status::not_modified) {
                        spdlog::debug("antispim: {} unchanged", source.url);
                    } else if (res.result() != http::status::ok) {
                        failure = "HTTP " + std::to_string(res.result_int());
                    } else {
                        auto entries = parse_import(source.format, res.body(), source.url, now_unix());
                        if (!entries) {
                            failure = entries.error();
                        } else {
                            etag = std::string(res[http::field::etag]);
                            const std::size_t count = entries->size();
                            {
                                std::lock_guard lock(mutex_);
                                imported_[source.url] = std::move(*entries);
                                rebuild();
                            }
                            spdlog::info("antispim: imported {} entr{} from {}", count, count == 1 ? "y" : "ies",
                                         source.url);
                        }
                    }
                }
            }
        }
        if (!failure.empty()) {
            // Keep what was imported before: a list that cannot be fetched has not changed.
            spdlog::warn("antispim: import from {} failed: {}", source.url, failure);
        }
        pause.expires_after(source.interval);
        co_await pause.async_wait(tuple_awaitable);
    }
}

}  // namespace hush
