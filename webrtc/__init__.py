"""Video consults: workflow, signaling and server-side aiortc peers."""
