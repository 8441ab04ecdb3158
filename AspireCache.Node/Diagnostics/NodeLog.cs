namespace AspireCache.Node.Diagnostics;

/// <summary>Node log messages (event ids 1000–1099). Successful requests are never logged.</summary>
internal static partial class NodeLog
{
    [LoggerMessage(1012, LogLevel.Warning, "Waited {WaitedMs} ms for the data directory {Directory}: another process (a previous instance still stopping?) held it")]
    public static partial void DataDirectoryWaited(ILogger logger, string directory, double waitedMs);

    [LoggerMessage(1013, LogLevel.Warning, "Slow WAL flush: appended entries took {ElapsedMs} ms to become durable before this follower could acknowledge them (a leader steps down when both followers take longer than Cluster:RaftRpcTimeoutMs to answer)")]
    public static partial void SlowAppendFlush(ILogger logger, double elapsedMs);

    [LoggerMessage(1014, LogLevel.Information, "Stale AppendEntries for entries {From}..{To} (term {Term}) arrived after this log already held them and more (up to {LastIndex}); treated as a heartbeat so the acknowledged entries after it stay")]
    public static partial void StaleAppendIgnored(ILogger logger, long from, long to, long lastIndex, long term);

    [LoggerMessage(1015, LogLevel.Information, "Snapshot {SnapshotIndex} sent again by the leader (term {Term}) is already covered here (commit index {CommitIndex}); answered as replicated so the leader moves on")]
    public static partial void InstalledSnapshotResent(ILogger logger, long snapshotIndex, long commitIndex, long term);

    [LoggerMessage(1001, LogLevel.Information, "Leader changed to {Leader} (term {Term}); this node is {Role}")]
    public static partial void LeaderChanged(ILogger logger, string leader, long term, string role);

    [LoggerMessage(1047, LogLevel.Information, "Leader of term {Term} ready (its first entry committed) {ElapsedMs:0.0} ms after the election, in {Rounds} forced replication rounds")]
    public static partial void LeadershipReady(ILogger logger, long term, double elapsedMs, int rounds);

    [LoggerMessage(1048, LogLevel.Debug, "Pre-vote for term {Term} granted to {Sender}: no leader heard for {SilenceMs:0.0} ms (at least the lower election timeout) and its log is up to date")]
    public static partial void PreVoteGranted(ILogger logger, long term, string sender, double silenceMs);

    [LoggerMessage(1049, LogLevel.Debug, "Pre-vote for term {Term} refused to {Sender}: this node runs too, with a log as up to date and a lower member id (tie-break)")]
    public static partial void PreVoteTieBroken(ILogger logger, long term, string sender);

    [LoggerMessage(1051, LogLevel.Debug, "Vote request from {Sender} considered: no leader heard for {SilenceMs:0.0} ms (at least the lower election timeout)")]
    public static partial void VoteConsidered(ILogger logger, string sender, double silenceMs);

    [LoggerMessage(1055, LogLevel.Information, "Snapshot at index {Index} written, held back: a follower is being brought back, and the log's compaction would stop writes until it is")]
    public static partial void SnapshotHeld(ILogger logger, long index);

    [LoggerMessage(1056, LogLevel.Information, "Snapshot at index {Index} released after {HeldMs:0} ms: {Reason}")]
    public static partial void SnapshotReleased(ILogger logger, long index, double heldMs, string reason);

    [LoggerMessage(1057, LogLevel.Debug, "The empty entry that makes the WAL compact after a snapshot was not committed")]
    public static partial void CompactionNudgeFailed(ILogger logger, Exception exception);

    [LoggerMessage(1054, LogLevel.Information, "{Message} of {Bytes} bytes sent to {Peer} in {ElapsedMs:0} ms (HTTP {Status}): a follower catching up")]
    public static partial void CatchUpSent(ILogger logger, string message, long bytes, string peer, double elapsedMs, int status);

    [LoggerMessage(1053, LogLevel.Information, "Peer {Peer} did not answer within the vote deadline; AppendEntries to it wait at most {DeadlineMs:0} ms for the next {WindowMs} ms or until it answers")]
    public static partial void PeerUnresponsive(ILogger logger, string peer, double deadlineMs, int windowMs);

    [LoggerMessage(1050, LogLevel.Debug, "Peer {Peer} refused a connection after {ElapsedMs:0.0} ms; Raft requests to it fail at once for {WindowMs} ms")]
    public static partial void PeerRefused(ILogger logger, string peer, double elapsedMs, int windowMs);

    [LoggerMessage(1002, LogLevel.Information, "Snapshot taken at index {Index}: {Keys} keys, {Bytes} bytes in {ElapsedMs} ms")]
    public static partial void SnapshotTaken(ILogger logger, long index, int keys, long bytes, double elapsedMs);

    [LoggerMessage(1003, LogLevel.Information, "State restored from snapshot at index {Index}: {Keys} keys")]
    public static partial void SnapshotRestored(ILogger logger, long index, int keys);


    [LoggerMessage(1004, LogLevel.Error, "Snapshot at index {Index} could not be written; the next one will be tried at the next interval")]
    public static partial void SnapshotFailed(ILogger logger, Exception exception, long index);

    [LoggerMessage(1011, LogLevel.Information, "Snapshot at index {Index} received from the leader and installed: {Keys} keys, {Bytes} bytes in {ElapsedMs} ms")]
    public static partial void SnapshotInstalled(ILogger logger, long index, int keys, long bytes, double elapsedMs);

    [LoggerMessage(1005, LogLevel.Information, "Node {NodeId} starting; members {Members}; data directory {DataDirectory}")]
    public static partial void Starting(ILogger logger, string nodeId, string members, string dataDirectory);


    [LoggerMessage(1008, LogLevel.Error, "Log entry {Index} could not be decoded and was skipped: {Reason}")]
    public static partial void UndecodableEntry(ILogger logger, long index, string reason);

    [LoggerMessage(1009, LogLevel.Information, "Removal of {Count} keys deferred: {Reason}")]
    public static partial void RemovalDeferred(ILogger logger, int count, string reason);

    [LoggerMessage(1010, LogLevel.Information, "Memory budget exceeded ({SizeBytes} of {BudgetBytes} bytes): evicting {Count} least recently used keys")]
    public static partial void Evicting(ILogger logger, long sizeBytes, long budgetBytes, int count);

    [LoggerMessage(1030, LogLevel.Error, "Replicating a log entry of {Writes} writes ({PayloadBytes} bytes) failed unexpectedly; its outcome is unknown (it may still commit) and the writers were answered 503")]
    public static partial void ReplicationFailed(ILogger logger, Exception exception, int writes, int payloadBytes);

    [LoggerMessage(1031, LogLevel.Warning, "Snapshot requested by an operator did not complete within {TimeoutSeconds} s (last snapshot at index {Index})")]
    public static partial void SnapshotRequestTimedOut(ILogger logger, double timeoutSeconds, long index);

    [LoggerMessage(1040, LogLevel.Debug, "Refused {Method} {Path} with {Status} (credential {Credential})")]
    public static partial void RequestRefused(ILogger logger, string method, string path, int status, string credential);

    [LoggerMessage(1041, LogLevel.Information, "Client authentication is on: {Count} credentials ({Names})")]
    public static partial void AuthEnabled(ILogger logger, int count, string names);

    [LoggerMessage(1052, LogLevel.Warning, "DotNext's {EventName} about {Member} was not logged {Suppressed} more times since its last line (one line per {IntervalSeconds} s per peer; the metric aspirecache.raft.log_suppressed counts them)")]
    public static partial void RaftWarningsSuppressed(ILogger logger, string eventName, string member, long suppressed, double intervalSeconds);

    [LoggerMessage(1042, LogLevel.Warning, "Refused node-to-node request {Method} {Path} (Raft message {MessageType}) from {Remote}: {Reason} ({Suppressed} more refused for this reason without a line since the last one)")]
    public static partial void ClusterRequestRefused(ILogger logger, string method, string path, string messageType, string reason, string remote, long suppressed);

    [LoggerMessage(1043, LogLevel.Information, "Node-to-node authentication is on (cluster secret{Rotation}; clock skew ±{SkewSeconds} s, nonce cache {Capacity})")]
    public static partial void ClusterAuthEnabled(ILogger logger, string rotation, double skewSeconds, int capacity);

    [LoggerMessage(1046, LogLevel.Critical, "Stopped applying the log at entry {Index} (term {Term}): {Reason}. This replica's copy is corrupt or from a newer version; it serves no reads until its data directory is restored from a peer (or the node upgraded)")]
    public static partial void ApplyHalted(ILogger logger, long index, long term, string reason);

    [LoggerMessage(1045, LogLevel.Information, "Raft and node-to-node calls are served on port {PeerPort} only; clients use {ClientUrl}")]
    public static partial void PeerEndpointSeparated(ILogger logger, int peerPort, string clientUrl);

    [LoggerMessage(1058, LogLevel.Warning, "The WAL's tail was half rewritten when this node last stopped (a crash between a leader's overwrite and the WAL's checkpoint): entries {From}-{To} were written again and the stale entries after them, up to {DroppedTo}, dropped (TornTailRepair)")]
    public static partial void TornLogTailRepaired(ILogger logger, long from, long to, long droppedTo);

    [LoggerMessage(1059, LogLevel.Warning, "An AppendEntries broke off part way; the WAL flushes its entries {From}-{To} again before any answer counts them")]
    public static partial void CutOffAppendResumed(ILogger logger, long from, long to);

    [LoggerMessage(1060, LogLevel.Error, "An AppendEntries broke off part way, and restarting the WAL's flush from entry {From} failed: it may count entries as flushed before they are")]
    public static partial void CutOffAppendNotResumed(ILogger logger, long from, Exception exception);

    [LoggerMessage(1044, LogLevel.Information, "Node-to-node authentication is OFF (no Cluster:Secret): anyone who reaches this node's port can send it Raft messages")]
    public static partial void ClusterAuthDisabled(ILogger logger);

    [LoggerMessage(1007, LogLevel.Error, "Unhandled error while serving {Path}")]
    public static partial void UnhandledError(ILogger logger, Exception exception, string path);
}
