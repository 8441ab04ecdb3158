using AspireCache.Node;
using AspireCache.Node.Diagnostics;

var builder = WebApplication.CreateBuilder(args);

builder.AddBasicServiceDefaults([NodeTelemetry.Name, AspireCache.Node.Watch.WatchTelemetry.Name, .. NodeTelemetry.RaftMeters]);
builder.AddCacheNode();

var app = builder.Build();

await app.RestoreCacheStateAsync();
app.MapCacheNode();

await app.RunAsync();

/// <summary>Entry point marker for tests.</summary>
public partial class Program;
