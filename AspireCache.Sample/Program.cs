using AspireCache.Sample;

var builder = WebApplication.CreateBuilder(args);
builder.AddBasicServiceDefaults(AspireCache.Client.AspireCacheClientTelemetry.Name);
builder.AddCatalogServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapCatalogApi();
app.Run();
