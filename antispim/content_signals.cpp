#include "antispim/content_signals.hpp"

#include "protocol/xep0082.hpp"

namespace hush::antispim {

content_service::signal_source sender_signal_source(const antispim_config& cfg, storage::async_store& store,
                                                    const blocklist_service& blocklist, antispim_service& strangers,
                                                    dos_detector& dos) {
    return [&cfg, &store, &blocklist, &strangers, &dos](const spim_context& ctx) -> boost::asio::awaitable<sender_signals> {
        sender_signals signals;
        signals.listed = blocklist.listed_mildly(ctx.sender, ctx.peer_address);
        signals.suspect = strangers.evidence_against(ctx.sender, ctx.peer_address);
        signals.reached = dos.reached("jid:" + ctx.sender.bare_string(), std::chrono::steady_clock::now());
        signals.rate_used = ctx.rate_used;
        if (ctx.sender_young) {
            signals.new_account = *ctx.sender_young;  // the outbound guard's read told
        } else if (cfg.content.local_first_contacts && ctx.origin == origin_kind::local_session &&
                   cfg.score.new_account > 0) {
            // The guard did not read it (disabled, or its read failed): one read of our own.
            auto created = [d = ctx.sender.domain(), u = ctx.sender.node()](storage::store& s) {
                return s.account_created_at(d, u);
            };
            if (auto at = co_await store.read(std::move(created)); at && *at) {
                const auto young = std::chrono::duration_cast<std::chrono::seconds>(cfg.outbound.new_account);
                signals.new_account = unix_now() - **at < young.count();
            }
        }
        co_return signals;
    };
}

}  // namespace hush::antispim
