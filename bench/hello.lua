-- Start-up benchmark app: the first line of an app.
print("hello")
