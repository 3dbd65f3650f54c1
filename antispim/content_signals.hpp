#pragma once
// What the other defences know of a sender, gathered for the content policy's combined score: server-wide entries
// that challenge or greylist it, challenge evidence against its service or network, how many users it reached as
// a stranger, how much of its rate budget it used, and — when local first contacts are judged — whether its account
// is new. That is read with the outbound guard's read; only when the guard did not read it (disabled) does it cost
// a read of its own. A stranger's first message keeps its two storage round trips.
#include "antispim/blocklist_service.hpp"
#include "antispim/content_service.hpp"
#include "antispim/dos_detector.hpp"
#include "antispim/stranger_service.hpp"

namespace hush::antispim {

content_service::signal_source sender_signal_source(const antispim_config& cfg, storage::async_store& store,
                                                    const blocklist_service& blocklist, antispim_service& strangers,
                                                    dos_detector& dos);

}  // namespace hush::antispim
