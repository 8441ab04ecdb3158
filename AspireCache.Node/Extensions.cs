using AspireCache.Node.Eviction;
using AspireCache.Node.Storage;
using AspireCache.Node.HotKeys;
using AspireCache.Node.Api;
using AspireCache.Node.Api.OpenApi;
using AspireCache.Node.Diagnostics;
using AspireCache.Node.Faults;
using AspireCache.Node.Raft;
using AspireCache.Node.Raft.DotNextShims;
using AspireCache.Node.StateMachine;
using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.Http;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;
using Microsoft.AspNetCore.Connections;

namespace AspireCache.Node;

/// <summary>All of the node's wiring: options, Raft (DotNext over HTTP on this Kestrel), state machine, API.</summary>
public static class Extensions
{
    public static WebApplicationBuilder AddCacheNode(this WebApplicationBuilder builder)
    {
        builder.UseServerLimits();
        builder.UseInlineIo();
        builder.AddHttp2Endpoint();
        builder.AddTlsTrust(); // optional: HTTPS between nodes with a private CA (Tls:CaCertificatePath)
        var services = builder.Services;
        services.AddOptions<ClusterOptions>()
            .BindConfiguration(ClusterOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddOptions<Auth.AuthOptions>()
            .BindConfiguration(Auth.AuthOptions.SectionName)
            .ValidateOnStart();
        services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<Auth.AuthOptions>, Auth.AuthOptionsValidator>();
        services.AddSingleton<Auth.CredentialStore>();
        services.AddOptions<Auth.ClusterAuthOptions>()
            .BindConfiguration(Auth.ClusterAuthOptions.SectionName)
            .ValidateOnStart();
        services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<Auth.ClusterAuthOptions>, Auth.ClusterAuthOptionsValidator>();
        services.AddSingleton<Auth.ClusterAuthenticator>();
        services.AddSingleton<Auth.RefusalLog>();
        services.AddTransient<Auth.ClusterSigningHandler>();
        services.AddOptions<CacheLimitsOptions>()
            .BindConfiguration(CacheLimitsOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        // Raft wiring needs the values now, before the container exists.
        var cluster = builder.Configuration.GetSection(ClusterOptions.SectionName).Get<ClusterOptions>()
                      ?? throw new InvalidOperationException("Missing 'Cluster' configuration.");
        if (!cluster.Members.TryGetValue(cluster.NodeId, out var self))
        {
            throw new InvalidOperationException($"Cluster:NodeId '{cluster.NodeId}' is not one of Cluster:Members.");
        }

        // Nothing in the data directory is touched before this process holds it exclusively.
        var dataDirectory = cluster.ResolveDataDirectory();
        var dataLock = DataDirectoryLock.Acquire(dataDirectory, cluster.DataDirectoryLockWait);
        services.AddSingleton(_ => dataLock); // the container disposes it (after the WAL: see RestoreCacheStateAsync)

        // Static membership: every node starts with the same member list and never bootstraps a
        // cluster of its own (ColdStart = false), so a misconfigured node cannot elect itself alone.
        services.UseInMemoryConfigurationStorage(members =>
        {
            foreach (var url in cluster.Members.Values)
            {
                members.Add(new UriEndPoint(url));
            }
        });
        services.AddOptions<StateMachineOptions>().Configure(o =>
        {
            o.DataDirectory = dataDirectory;
            o.SnapshotInterval = cluster.SnapshotInterval;
            o.SnapshotLogBytes = cluster.SnapshotLogBytes;
            // One catch-up's longest, but 30 s at most: a round of large entries to a follower a little behind also
            // counts as a catch-up, and under such a load overlapping holds must not let the log grow for minutes.
            o.SnapshotHoldLimit = cluster.CatchUpTransferTimeout < StateMachineOptions.LongestSnapshotHold ? cluster.CatchUpTransferTimeout : StateMachineOptions.LongestSnapshotHold;
            o.ApplyTrace = cluster.ApplyTrace;
            o.Idempotency = cluster.ResolveIdempotencyLimits();
        });
        services.UseStateMachine<CacheStateMachine>(new WriteAheadLog.Options
        {
            Location = Path.Combine(dataDirectory, "wal"),
            ChunkSize = WalLayout.ResolvePageBytes(Path.Combine(dataDirectory, "wal"), cluster.WalPageBytes),
            MemoryManagement = cluster.WalMemory,
        });
        // Consensus RPCs must never pass through generic retry/circuit-breaker handlers.
        // Every node-to-node request is signed with the cluster secret (a no-op without one); added
        // after the clear, so it survives it. The receiving side is ClusterAuthMiddleware.
        services.AddHttpClient("raftClient")
            .ConfigureAdditionalHttpMessageHandlers(static (handlers, _) => handlers.Clear())
            .ConfigureAdditionalHttpMessageHandlers(static (handlers, sp) => handlers.Add(sp.GetRequiredService<Auth.ClusterSigningHandler>()))
            .ConfigureAdditionalHttpMessageHandlers(static (handlers, sp) => handlers.Insert(0, sp.GetRequiredService<Raft.DotNextShims.VoteDeadlineHandler>()))
            // Outside the vote deadline: its local refusals are not a peer's answer (they must not clear an unresponsive mark).
            .ConfigureAdditionalHttpMessageHandlers(static (handlers, sp) => handlers.Insert(0, sp.GetRequiredService<Raft.DotNextShims.PreVoteHoldOffHandler>()))
            .ConfigureAdditionalHttpMessageHandlers(static (handlers, sp) => handlers.Insert(0, sp.GetRequiredService<Raft.DotNextShims.PeerRefusalHandler>()))
            .ConfigureAdditionalHttpMessageHandlers(static (handlers, sp) => handlers.Insert(0, new Raft.DotNextShims.SnapshotAnswerHandler()))
            // Outermost: a snapshot's own token and timeout reach every handler below it.
            .ConfigureAdditionalHttpMessageHandlers(static (handlers, sp) => handlers.Insert(0, sp.GetRequiredService<Raft.DotNextShims.CatchUpTransferHandler>()));
        services.AddTransient<Raft.DotNextShims.CatchUpTransferHandler>();
        services.AddSingleton(static sp => new SnapshotHold(sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<StateMachineOptions>>().Value.SnapshotHoldLimit));
        services.AddTransient<Raft.DotNextShims.VoteDeadlineHandler>();
        services.AddSingleton<Raft.DotNextShims.UnresponsivePeers>();
        services.AddSingleton<Raft.DotNextShims.PreVoteEndorsement>();
        services.AddTransient<Raft.DotNextShims.PreVoteHoldOffHandler>();
        services.AddSingleton<Raft.DotNextShims.PeerRefusals>();
        services.AddSingleton<Raft.DotNextShims.LeaderStickiness>();
        services.AddTransient<Raft.DotNextShims.PeerRefusalHandler>();
        if (builder.Configuration.IsFaultInjectionEnabled())
        {
            // Tests only: network partitions inside the node-to-node transport.
            services.AddFaultInjection("raftClient", ReadIndexService.HttpClientName, Api.AdminApi.ForwardHttpClientName);
        }
        builder.JoinCluster((member, _, _) =>
        {
            member.PublicEndPoint = self;
            member.ColdStart = false;
            member.LowerElectionTimeout = cluster.LowerElectionTimeoutMs;
            member.UpperElectionTimeout = cluster.UpperElectionTimeoutMs;
            member.HeartbeatThreshold = cluster.HeartbeatThreshold;
            member.RequestTimeout = TimeSpan.FromMilliseconds(Math.Max(cluster.RaftRpcTimeoutMs, cluster.UpperElectionTimeoutMs));
            member.RpcTimeout = TimeSpan.FromMilliseconds(cluster.RaftRpcTimeoutMs);
            member.AggressiveLeaderStickiness = cluster.LeaderStickiness;
        });
        Raft.DotNextShims.RaftLogThrottle.Install(services); // one "member unavailable" line per peer per 10 s, not one per request

        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<NodeTelemetry>();
        services.AddSingleton<ClusterView>();
        services.AddSingleton<WriteCoordinator>();
        services.AddHostedService<LeadershipSettler>();
        services.AddHostedService<CompactionNudge>();
        services.AddSingleton<LeaderSilenceMonitor>();
        services.AddSingleton<ReadIndexService>();
        services.AddSingleton<Cache.CacheService>();
        services.AddOptions<Watch.WatchOptions>()
            .BindConfiguration(Watch.WatchOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<Watch.WatchTelemetry>();
        services.AddSingleton(sp => new Watch.WatchHub(
            sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<Watch.WatchOptions>>(),
            sp.GetRequiredService<Watch.WatchTelemetry>(),
            cluster.NodeId));
        services.AddSingleton<IChangeFeed>(sp => sp.GetRequiredService<Watch.WatchHub>());
        services.AddSingleton<Watch.WatchService>();
        services.AddHostedService<ExpiryService>();
        services.AddOptions<Eviction.EvictionOptions>()
            .BindConfiguration(Eviction.EvictionOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<Eviction.AccessTracker>();
        services.AddSingleton(sp => new HotKeyTracker(clock: sp.GetRequiredService<TimeProvider>()));
        services.AddHostedService<Eviction.EvictionService>();
        services.AddHostedService<Eviction.AccessReporter>();
        services.AddHttpClient(ReadIndexService.HttpClientName) // read-index and access reports: node to node, signed
            .ConfigureAdditionalHttpMessageHandlers(static (handlers, sp) => handlers.Add(sp.GetRequiredService<Auth.ClusterSigningHandler>()));

        // A follower's "Take snapshot" asks the leader for a barrier with the operator's credential:
        // no request logging on that client (at Trace its structured state carries header values as sent).
        services.AddHttpClient(Api.AdminApi.ForwardHttpClientName).RemoveAllLoggers();
        services.AddProblemDetails();
        services.AddExceptionHandler<ClusterExceptionHandler>();
        services.AddHealthChecks().AddCheck<RaftHealthCheck>("raft");
        services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default));
        services.AddNodeOpenApi(); // /openapi/v1.json and /scalar, in every environment (Api/OpenApi)
        return builder;
    }

    /// <summary>Restores the state machine from its latest snapshot; must run before the host starts.</summary>
    public static async Task RestoreCacheStateAsync(this WebApplication app, CancellationToken token = default)
    {
        // Resolved before anything that opens files, so that the container disposes it last.
        var dataLock = app.Services.GetRequiredService<DataDirectoryLock>();
        if (dataLock.Waited > TimeSpan.FromMilliseconds(200))
        {
            NodeLog.DataDirectoryWaited(app.Logger, dataLock.Directory, dataLock.Waited.TotalMilliseconds);
        }

        await app.Services.GetRequiredService<CacheStateMachine>().RestoreAsync(token);

        // The WAL opens here, after the snapshot it starts from; its tail is mended before Raft reads it.
        if (await Raft.DotNextShims.TornTailRepair.RepairAsync(app.Services.GetRequiredService<IPersistentState>(), token) is { } repair)
        {
            NodeLog.TornLogTailRepaired(app.Logger, repair.From, repair.To, repair.DroppedTo);
        }

        var options = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ClusterOptions>>().Value;
        NodeLog.Starting(
            app.Logger,
            options.NodeId,
            string.Join(", ", options.Members.Select(m => $"{m.Key}={m.Value}")),
            options.ResolveDataDirectory());
    }

    public static WebApplication MapCacheNode(this WebApplication app)
    {
        // Resolving ClusterView subscribes it to leader changes from the start (logs, metrics, /cluster/watch).
        var cluster = app.Services.GetRequiredService<ClusterView>();
        var state = app.Services.GetRequiredService<CacheStateMachine>().State;
        var eviction = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Eviction.EvictionOptions>>().Value;
        var telemetry = app.Services.GetRequiredService<NodeTelemetry>();
        telemetry.ObserveMemory(() => state.SizeBytes, eviction.ResolveBudget, () => state.Count);
        telemetry.ObserveIdempotency(() => state.Idempotency.Count, () => state.Idempotency.SizeBytes, () => state.Idempotency.EvictedInsideWindow);
        telemetry.ObserveHotKeys(app.Services.GetRequiredService<HotKeyTracker>());

        // A stopping node closes its streams first, each with the revision to resume from elsewhere.
        var watches = app.Services.GetRequiredService<Watch.WatchHub>();
        app.Lifetime.ApplicationStopping.Register(() => watches.CloseAll(Watch.CloseReason.ShuttingDown));
        app.UseExceptionHandler();
        app.UseProblemStatusCodePages(); // an empty 404/405 of the routing (unknown path, wrong method) becomes a problem too
        app.Use((context, next) =>
        {
            ClusterApi.SetNodeHeaders(context.Response, cluster);
            return next(context);
        });
        // Cluster traffic and client traffic each on their own endpoint (when the node has a peer endpoint).
        var clusterOptions = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ClusterOptions>>().Value;
        if (clusterOptions.ResolvePeerPort() is { } peerPort)
        {
            NodeLog.PeerEndpointSeparated(app.Logger, peerPort, clusterOptions.ClientUrlOf(clusterOptions.NodeId).ToString());
            app.UseMiddleware<Auth.PeerEndpointMiddleware>(peerPort);
        }

        // Node-to-node authentication (cluster secret) before anything, the shims included, reads a Raft message.
        var clusterAuth = app.Services.GetRequiredService<Auth.ClusterAuthenticator>();
        if (clusterAuth.Enabled)
        {
            var o = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Auth.ClusterAuthOptions>>().Value;
            telemetry.ObserveClusterNonces(() => clusterAuth.Nonces.Count, clusterAuth.Nonces.Capacity);
            NodeLog.ClusterAuthEnabled(app.Logger, string.IsNullOrEmpty(o.PreviousSecret) ? "" : " and a previous one", o.AuthMaxClockSkew.TotalSeconds, o.AuthNonceCapacity);
            app.UseMiddleware<Auth.ClusterAuthMiddleware>();
        }
        else
        {
            NodeLog.ClusterAuthDisabled(app.Logger);
        }

        // How long followers go without hearing from the leader, measured as authenticated AppendEntries arrive.
        app.UseMiddleware<LeaderSilenceMiddleware>();
        app.UseDotNextShims(); // DotNext 6.12's defects, fixed in front of its consensus handler
        app.UseConsensusProtocolHandler();

        // Client credentials and scopes, checked here on every node (the router only forwards them).
        var credentials = app.Services.GetRequiredService<Auth.CredentialStore>();
        if (credentials.Enforced)
        {
            var names = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Auth.AuthOptions>>().Value.Credentials.Select(c => c.Name).Distinct(StringComparer.Ordinal);
            NodeLog.AuthEnabled(app.Logger, credentials.Count, string.Join(", ", names));
            app.UseMiddleware<Auth.ClientAuthMiddleware>();
        }

        app.MapDefaultEndpoints();
        app.MapWatchApi(); // before the cache API: /cache/watch is an endpoint, not a key
        app.MapCacheApi();
        app.MapClusterApi();
        app.MapReadBatchApi(); // the router's coalesced GETs
        app.MapWriteBatchApi(); // the router's coalesced PUTs and DELETEs
        app.MapAdminApi();
        app.MapNodeOpenApi(); // anonymous, on the client endpoint only
        if (app.Configuration.IsFaultInjectionEnabled())
        {
            app.MapFaultInjection();
        }
        return app;
    }
}
